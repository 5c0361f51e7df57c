package kubernetes

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// discoveryClient is the HTTP client offline mode fetches the discovery
// document and JWKS with: it trusts oidc_discovery_ca_pem, else the API
// server's CA (configured, or the pod's own as it is now), else the
// system's roots, and sends the reviewer token (when there is one) to the
// API server's own host only, since clusters serve discovery to
// authenticated callers by default. The token never goes to another host.
func discoveryClient(c *config, api *kubeAPI) (*http.Client, error) {
	ca := []byte(c.OIDCDiscoveryCAPEM)
	if len(ca) == 0 {
		ca = api.ca()
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("the CA certificate for oidc_discovery_url is not PEM")
		}
		conf.RootCAs = pool
	}
	apiURL, err := url.Parse(c.Host)
	if err != nil {
		return nil, err
	}
	base := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true,
		IdleConnTimeout: 90 * time.Second, Proxy: http.ProxyFromEnvironment}
	return &http.Client{
		Transport: &bearerTransport{base: base, host: apiURL.Host, bearer: api.bearer},
		Timeout:   apiTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// bearerTransport adds a bearer token to HTTPS requests for one host.
type bearerTransport struct {
	base   http.RoundTripper
	host   string
	bearer func() string
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "https" && req.URL.Host == t.host && req.Header.Get("Authorization") == "" {
		if tok := t.bearer(); tok != "" {
			req = req.Clone(req.Context())
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return t.base.RoundTrip(req)
}
