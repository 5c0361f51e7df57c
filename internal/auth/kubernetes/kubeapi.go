package kubernetes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// apiTimeout bounds one call to the Kubernetes API.
const apiTimeout = 10 * time.Second

// maxAPIResponse caps what is read of an API response.
const maxAPIResponse = 1 << 20

// kubeAPI makes the two calls the method needs: TokenReview and reading a
// namespace's labels. The CA and the bearer token are looked up per call,
// so rotated local files take effect. Safe for concurrent use.
type kubeAPI struct {
	host string
	// ca returns the PEM CA bundle to trust (nil: the system's roots).
	ca func() []byte
	// bearer returns the reviewer's token, "" when there is none.
	bearer func() string

	mu        sync.Mutex
	caSeen    []byte
	transport *http.Transport
}

// client returns an HTTP client trusting the current CA, rebuilt when the
// CA changes.
func (k *kubeAPI) client() (*http.Client, error) {
	ca := k.ca()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.transport == nil || !bytes.Equal(ca, k.caSeen) {
		conf := &tls.Config{MinVersion: tls.VersionTLS12}
		if len(ca) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("the Kubernetes CA certificate is not PEM")
			}
			conf.RootCAs = pool
		}
		if k.transport != nil {
			k.transport.CloseIdleConnections()
		}
		k.transport = &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true,
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, Proxy: http.ProxyFromEnvironment}
		k.caSeen = bytes.Clone(ca)
	}
	return &http.Client{Transport: k.transport, Timeout: apiTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// reviewResult is what a TokenReview said.
type reviewResult struct {
	Authenticated bool
	Username      string
	UID           string
	Extra         map[string][]string
	// Error is the API server's reason for not authenticating.
	Error string
}

// apiStatusError is a non-success HTTP status from the API server.
type apiStatusError struct {
	Code int
	Msg  string
}

func (e *apiStatusError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("HTTP %d", e.Code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Msg)
}

// review asks the TokenReview API whether token is valid for audiences
// (nil: the API server's own), authenticating as bearer (the token itself
// when bearer is empty, as Vault does without a reviewer JWT).
func (k *kubeAPI) review(ctx context.Context, token string, audiences []string) (*reviewResult, error) {
	type spec struct {
		Token     string   `json:"token"`
		Audiences []string `json:"audiences,omitempty"`
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
		"spec": spec{Token: token, Audiences: audiences},
	})
	if err != nil {
		return nil, err
	}
	bearer := k.bearer()
	if bearer == "" {
		bearer = token
	}
	var out struct {
		Status struct {
			Authenticated bool `json:"authenticated"`
			User          struct {
				Username string              `json:"username"`
				UID      string              `json:"uid"`
				Extra    map[string][]string `json:"extra"`
			} `json:"user"`
			Error string `json:"error"`
		} `json:"status"`
	}
	if err := k.call(ctx, http.MethodPost, "/apis/authentication.k8s.io/v1/tokenreviews", bearer, body, &out); err != nil {
		return nil, err
	}
	s := out.Status
	return &reviewResult{Authenticated: s.Authenticated, Username: s.User.Username, UID: s.User.UID,
		Extra: s.User.Extra, Error: s.Error}, nil
}

// namespaceLabels reads the labels of namespace ns.
func (k *kubeAPI) namespaceLabels(ctx context.Context, ns string) (map[string]string, error) {
	var out struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := k.call(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(ns), k.bearer(), nil, &out); err != nil {
		return nil, err
	}
	return out.Metadata.Labels, nil
}

// call makes one request and decodes a 2xx JSON answer into out. Other
// statuses are *apiStatusError with the API server's message.
func (k *kubeAPI) call(ctx context.Context, method, path, bearer string, body []byte, out any) error {
	hc, err := k.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(k.host, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var st struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &st)
		return &apiStatusError{Code: resp.StatusCode, Msg: st.Message}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode the API server's answer: %w", err)
	}
	return nil
}
