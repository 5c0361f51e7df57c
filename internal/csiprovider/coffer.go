package csiprovider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// apiResponse is the part of Coffer's response envelope the provider reads.
type apiResponse struct {
	Data          map[string]any `json:"data"`
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int64          `json:"lease_duration"`
	Auth          *struct {
		ClientToken   string `json:"client_token"`
		LeaseDuration int64  `json:"lease_duration"`
	} `json:"auth"`
}

// httpStatusError is a non-2xx answer from Coffer. Msg is the server's
// "errors" list, which Coffer never fills with secret material.
type httpStatusError struct {
	Status int
	Msg    string
}

func (e *httpStatusError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Msg)
}

// unreachableError is a request that got no HTTP answer at all.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }

// clientKey names one TLS configuration towards one address.
type clientKey struct {
	addr, caSum, serverName string
	skipVerify              bool
}

// maxClients bounds the clients kept: one per address and TLS
// configuration in use on the node. Whoever may write a SecretProviderClass
// picks the address, so without a bound every new one would keep a client
// and its idle connections for the provider's life.
const maxClients = 64

// clients keeps one http.Client per address and TLS configuration, so
// Mount calls reuse connections; past maxClients the least recently used
// goes, its idle connections closed. Safe for concurrent use.
type clients struct {
	mu sync.Mutex
	m  *lru.Cache[clientKey, *http.Client]
}

func (cs *clients) get(p *mountParams) (*http.Client, error) {
	var caPEM []byte
	k := clientKey{addr: p.address, serverName: p.serverName, skipVerify: p.skipVerify}
	if p.caCertPath != "" {
		var err error
		if caPEM, err = readCA(p.caCertPath); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(caPEM)
		k.caSum = hex.EncodeToString(sum[:])
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		// Only fails for a size below 1.
		cs.m, _ = lru.NewWithEvict(maxClients, func(_ clientKey, c *http.Client) { c.CloseIdleConnections() })
	}
	if c, ok := cs.m.Get(k); ok {
		return c, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.serverName, InsecureSkipVerify: p.skipVerify} //nolint:gosec // only when the SecretProviderClass asks
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, badParam("cofferCACertPath", "%s holds no PEM certificate", p.caCertPath)
		}
		tc.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	c := &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DialContext: dialer.DialContext, TLSClientConfig: tc, TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cs.m.Add(k, c)
	return c, nil
}

// maxCABytes bounds a cofferCACertPath file: a CA bundle is a few KiB.
const maxCABytes = 1 << 20

// readCA reads the CA file a SecretProviderClass names. It must be a
// regular file of at most maxCABytes: the path is chosen by whoever
// writes the SecretProviderClass, and /dev/zero or a FIFO would otherwise
// exhaust the memory of the provider every pod of the node depends on, or
// hang the mount.
func readCA(path string) ([]byte, error) {
	// Checked before opening too: opening a FIFO blocks.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, badParam("cofferCACertPath", "%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, badParam("cofferCACertPath", "cannot read %s on the node: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, badParam("cofferCACertPath", "%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCABytes+1))
	if err != nil {
		return nil, badParam("cofferCACertPath", "cannot read %s on the node: %v", path, errors.Unwrap(err))
	}
	if len(b) > maxCABytes {
		return nil, badParam("cofferCACertPath", "%s is larger than %d bytes", path, maxCABytes)
	}
	return b, nil
}

// maxMountBytes bounds the bytes one Mount reads from Coffer in all: the
// driver takes at most a few MiB of files back, and a cofferAddress can
// name any server, whose answers would otherwise all be held in memory.
const maxMountBytes = 32 << 20

// call sends one request to Coffer's API and decodes the envelope. A
// transport failure is an *unreachableError, a non-2xx answer an
// *httpStatusError; an answer longer than *budget is a MountError, and
// what it read is taken from *budget. It never retries.
func call(ctx context.Context, c *http.Client, addr, method, apiPath, token string, query url.Values, body any, budget *int64) (*apiResponse, error) {
	u := strings.TrimRight(addr, "/") + "/v1/" + escapePath(apiPath)
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, badParam("cofferAddress", "%v", err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, &unreachableError{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, *budget+1))
	if err != nil {
		return nil, &unreachableError{err: err}
	}
	if *budget -= int64(len(raw)); *budget < 0 {
		return nil, mountErr(CodeServerError, "the answers of %s for this mount pass %d bytes in all (is cofferAddress a Coffer server?)", addr, maxMountBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(raw, &e)
		msg := strings.Join(e.Errors, "; ")
		if len(msg) > 400 {
			msg = msg[:400] + "…"
		}
		return nil, &httpStatusError{Status: resp.StatusCode, Msg: msg}
	}
	var out apiResponse
	if len(bytes.TrimSpace(raw)) == 0 {
		return &out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, &httpStatusError{Status: resp.StatusCode, Msg: "the answer is not Coffer's JSON envelope (is cofferAddress a Coffer server?)"}
	}
	return &out, nil
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
