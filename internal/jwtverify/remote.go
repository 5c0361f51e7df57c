package jwtverify

import (
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
	"sync/atomic"
	"time"
)

const (
	// DefaultMinRefreshInterval is the least time between two fetches of
	// remote keys: a flood of tokens with unknown key IDs costs the issuer
	// at most one request per interval.
	DefaultMinRefreshInterval = 5 * time.Second
	// DefaultMaxKeyAge is how long fetched keys are used before the next
	// token fetches them again, so that keys the issuer withdrew stop
	// verifying even when no unknown key ID turns up.
	DefaultMaxKeyAge = time.Hour
	// fetchTimeout bounds one discovery or JWKS request.
	fetchTimeout = 10 * time.Second
	// maxDocumentSize caps a discovery document or a JWKS.
	maxDocumentSize = 1 << 20
	// discoveryPath is appended to an OIDC issuer URL.
	discoveryPath = "/.well-known/openid-configuration"
)

// snapshot is one fetch's keys. Never modified once stored.
type snapshot struct {
	keys    []key
	fetched time.Time
}

// flight is a fetch in progress that later callers wait for.
type flight struct {
	done chan struct{}
	snap *snapshot
	err  error
}

// remote holds the keys published at a JWKS URL, found directly or through
// an OIDC discovery document, and fetches them again when asked, at most
// once per minInterval with concurrent askers sharing one fetch. Safe for
// concurrent use.
type remote struct {
	client       *http.Client
	jwksURL      string // set in JWKS mode
	discoveryURL string // set in discovery mode
	minInterval  time.Duration
	maxAge       time.Duration
	now          func() time.Time

	cur atomic.Pointer[snapshot]

	mu      sync.Mutex
	flight  *flight
	last    time.Time // start of the last fetch
	lastErr error     // its error, when it failed
	// discovered is the jwks_uri and issuer of the discovery document,
	// fetched once and again only after a JWKS fetch from it failed.
	discovered struct{ jwksURI, issuer string }
}

// newHTTPClient returns a client that trusts caPEM's certificates only, or
// the system's when caPEM is empty. It follows no more redirects than the
// standard client and gives up after fetchTimeout.
func newHTTPClient(caPEM string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if strings.TrimSpace(caPEM) != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, &configError{msg: "could not parse CA PEM value successfully"}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: fetchTimeout, CheckRedirect: noDowngrade}, nil
}

// noDowngrade follows at most five redirects and never from https to
// plain http, where keys could be swapped in transit.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return fmt.Errorf("stopped after 5 redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refusing a redirect from https to %s", req.URL.Scheme)
	}
	return nil
}

// checkURL accepts an absolute http or https URL.
func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &configError{msg: fmt.Sprintf("%s must be an absolute http or https URL", name)}
	}
	return nil
}

// get fetches url and decodes its JSON body into out, refusing bodies over
// maxDocumentSize. Its errors name the URL and the status, nothing more.
func (r *remote) get(ctx context.Context, u string, out any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q", u)
	}
	// kube-apiserver answers 406 to a JWKS request that does not accept
	// RFC 7517's media type.
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the body: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if len(body) > maxDocumentSize {
		return nil, fmt.Errorf("GET %s: the document is larger than 1 MiB", u)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return nil, fmt.Errorf("GET %s: the document is not valid JSON", u)
		}
	}
	return body, nil
}

// unwrapURLError drops url.Error's repetition of the method and URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// discover fetches the discovery document and checks that it names the
// issuer it was fetched from, as OpenID Connect Discovery requires.
func (r *remote) discover(ctx context.Context) (jwksURI, issuer string, err error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if _, err := r.get(ctx, strings.TrimSuffix(r.discoveryURL, "/")+discoveryPath, &doc); err != nil {
		return "", "", err
	}
	if strings.TrimSuffix(doc.Issuer, "/") != strings.TrimSuffix(r.discoveryURL, "/") {
		return "", "", fmt.Errorf("the discovery document names issuer %q, not %q as it must", doc.Issuer, r.discoveryURL)
	}
	if err := checkURL("the discovery document's jwks_uri", doc.JWKSURI); err != nil {
		return "", "", err
	}
	return doc.JWKSURI, doc.Issuer, nil
}

// fetch gets the current keys: from the JWKS URL, or through discovery.
func (r *remote) fetch(ctx context.Context) (*snapshot, error) {
	jwksURL := r.jwksURL
	if r.discoveryURL != "" {
		if r.discovered.jwksURI == "" {
			uri, iss, err := r.discover(ctx)
			if err != nil {
				return nil, err
			}
			r.discovered.jwksURI, r.discovered.issuer = uri, iss
		}
		jwksURL = r.discovered.jwksURI
	}
	body, err := r.get(ctx, jwksURL, nil)
	if err != nil {
		// Perhaps the issuer moved its keys: discover again next time.
		r.discovered.jwksURI = ""
		return nil, err
	}
	keys, _, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", jwksURL, err)
	}
	return &snapshot{keys: keys, fetched: r.now()}, nil
}

// refresh fetches the keys again unless a fetch started less than
// minInterval ago, in which case it returns what that fetch left; callers
// arriving during a fetch wait for it and share its result. It returns the
// newest keys it has (nil before the first successful fetch) and the error
// of the fetch that produced its answer, if that fetch failed. force skips
// the interval (for Check).
func (r *remote) refresh(ctx context.Context, force bool) (*snapshot, error) {
	r.mu.Lock()
	if f := r.flight; f != nil {
		r.mu.Unlock()
		select {
		case <-f.done:
			return f.snap, f.err
		case <-ctx.Done():
			return r.cur.Load(), ctx.Err()
		}
	}
	now := r.now()
	if !force && !r.last.IsZero() && now.Sub(r.last) < r.minInterval {
		snap, err := r.cur.Load(), r.lastErr
		r.mu.Unlock()
		return snap, err
	}
	f := &flight{done: make(chan struct{})}
	r.flight, r.last = f, now
	r.mu.Unlock()

	// The fetch serves every waiter, so one caller's cancellation must not
	// end it; fetchTimeout bounds it instead. Only this goroutine touches
	// r.discovered, since flights never overlap.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	snap, err := r.fetch(fctx)
	cancel()

	r.mu.Lock()
	if err == nil {
		r.cur.Store(snap)
	} else {
		snap = r.cur.Load()
	}
	r.lastErr = err
	r.flight = nil
	r.mu.Unlock()
	f.snap, f.err = snap, err
	close(f.done)
	return snap, err
}

// candidates returns the keys that may have signed a token with key ID kid
// and algorithm alg, fetching the keys when there are none yet, when they
// are older than maxAge, or when kid is not among them. An unknown kid
// while the last fetch failed is ErrKeysUnavailable, not the token's fault.
func (r *remote) candidates(ctx context.Context, kid string, alg joseAlg) ([]key, error) {
	snap := r.cur.Load()
	if snap == nil || r.now().Sub(snap.fetched) > r.maxAge {
		var err error
		if snap, err = r.refresh(ctx, false); snap == nil {
			return nil, unavailable(err)
		}
	}
	if c := match(snap.keys, kid, alg); len(c) > 0 || kid == "" {
		return c, nil
	}
	snap, err := r.refresh(ctx, false)
	if snap == nil {
		return nil, unavailable(err)
	}
	c := match(snap.keys, kid, alg)
	if len(c) == 0 && err != nil {
		// The key may well exist: the issuer could not say.
		return nil, unavailable(err)
	}
	return c, nil
}

// check fetches the keys now and insists on at least one usable key.
func (r *remote) check(ctx context.Context) error {
	snap, err := r.refresh(ctx, true)
	if err != nil {
		return unavailable(err)
	}
	if len(snap.keys) == 0 {
		return unavailable(fmt.Errorf("the key set holds no usable public signing key"))
	}
	return nil
}

// issuer is the discovery document's issuer once it has been fetched.
func (r *remote) issuer() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flight != nil {
		return ""
	}
	return r.discovered.issuer
}
