package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Leader is how a joining node reaches a cluster member's API
// (sys/storage/raft/join's leader_* fields, retry_join's blocks). The PEM
// fields may be empty: the system roots are then trusted and no client
// certificate is sent.
type Leader struct {
	APIAddr    string
	CACert     string
	ClientCert string
	ClientKey  string
	ServerName string
}

// Challenge is what a member hands a node that asks to join: a random
// answer sealed under the cluster's unseal key, and the seal configuration
// (type and share counts, no secret) the node needs to collect that key.
// Nothing else is given before the node proves it holds the key: the
// keyring replicates to it once it is a member, and the TLS keyring comes
// with the answer.
type Challenge struct {
	Challenge  []byte          `json:"challenge"`
	SealConfig json.RawMessage `json:"seal_config"`
}

// Peer is a member as the answer lists them.
type Peer struct {
	ID      string `json:"server_id"`
	Address string `json:"cluster_addr"`
}

// Answered is the member's reply to a correct answer: the members, and the
// cluster TLS keyring sealed under the unseal key the answer proved.
type Answered struct {
	Peers      []Peer `json:"peers"`
	TLSKeyring []byte `json:"tls_keyring"`
}

// Check refuses a leader_api_addr that is not http(s)://host[:port]: a
// path, query, fragment or user info would choose what the joining node
// POSTs to, and an unauthenticated caller gives this address.
func (l Leader) Check() error {
	u, err := url.Parse(l.APIAddr)
	bad := err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" ||
		u.User != nil || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || strings.ContainsAny(l.APIAddr, "?#")
	if bad {
		return fmt.Errorf("leader_api_addr %q must be http(s)://host[:port], with no path, query, fragment or user", l.APIAddr)
	}
	return nil
}

// joinTimeout bounds one call to a member's API.
const joinTimeout = 30 * time.Second

// FetchChallenge asks the member at l for a join challenge for serverID,
// reached at clusterAddr; the challenge is bound to both.
func FetchChallenge(ctx context.Context, l Leader, serverID, clusterAddr string) (*Challenge, error) {
	var ch Challenge
	body := map[string]any{"server_id": serverID, "cluster_addr": clusterAddr}
	if err := call(ctx, l, "sys/storage/raft/bootstrap/challenge", body, &ch); err != nil {
		return nil, err
	}
	if len(ch.Challenge) == 0 || len(ch.SealConfig) == 0 {
		return nil, fmt.Errorf("join %s: the answer holds no challenge", l.APIAddr)
	}
	return &ch, nil
}

// SendAnswer gives the member at l the sealed challenge and its opened
// answer; it adds the node the challenge was issued for (serverID at
// clusterAddr) as a voter and returns the members and the TLS keyring.
func SendAnswer(ctx context.Context, l Leader, serverID, clusterAddr string, challenge, answer []byte) (*Answered, error) {
	var a Answered
	body := map[string]any{"server_id": serverID, "cluster_addr": clusterAddr, "challenge": challenge, "answer": answer}
	if err := call(ctx, l, "sys/storage/raft/bootstrap/answer", body, &a); err != nil {
		return nil, err
	}
	if len(a.TLSKeyring) == 0 {
		return nil, fmt.Errorf("join %s: the answer holds no TLS keyring", l.APIAddr)
	}
	return &a, nil
}

// busyRetries is how many times a call refused with 429 (the member's
// join rate limit, shared by every caller at one address) is retried, a
// second apart.
const busyRetries = 10

func call(ctx context.Context, l Leader, path string, body, out any) error {
	for i := 0; ; i++ {
		err := callOnce(ctx, l, path, body, out)
		if !errors.Is(err, errBusy) || i == busyRetries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

func callOnce(ctx context.Context, l Leader, path string, body, out any) error {
	if err := l.Check(); err != nil {
		return err
	}
	client, err := l.client()
	if err != nil {
		return err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	url := strings.TrimRight(l.APIAddr, "/") + "/v1/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("join: leader_api_addr %q: %w", l.APIAddr, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("join %s: %w", l.APIAddr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("join %s: read answer: %w", l.APIAddr, err)
	}
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []string        `json:"errors"`
	}
	_ = json.Unmarshal(raw, &env)
	if resp.StatusCode != http.StatusOK {
		msg := strings.Join(env.Errors, "; ")
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		err := fmt.Errorf("join %s: %s: %d %s", l.APIAddr, path, resp.StatusCode, msg)
		if resp.StatusCode == http.StatusTooManyRequests {
			err = fmt.Errorf("%w: %w", errBusy, err)
		}
		return err
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("join %s: decode answer: %w", l.APIAddr, err)
	}
	return nil
}

func (l Leader) client() (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: l.ServerName}
	if l.CACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(l.CACert)) {
			return nil, errors.New("join: leader_ca_cert holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	if l.ClientCert != "" || l.ClientKey != "" {
		c, err := tls.X509KeyPair([]byte(l.ClientCert), []byte(l.ClientKey))
		if err != nil {
			return nil, errors.New("join: leader_client_cert and leader_client_key are not a PEM certificate and its key")
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment}}, nil
}
