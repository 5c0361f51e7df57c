package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/config"
)

// maxProxyBody bounds request and response bodies through the proxy, as
// the server's default max_request_size does.
const maxProxyBody = 32 << 20

// hopHeaders are not forwarded in either direction; the token headers are
// set by the proxy itself.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te",
	"Trailer", "Transfer-Encoding", "Upgrade", "Content-Length",
}

// proxy is the listeners' handler: it forwards every request to the
// server, attaching the auto-auth token per use_auto_auth_token, and, with
// a cache block, answers repeated requests for leased secrets and logins
// locally until their lease nears its end. Safe for concurrent use.
type proxy struct {
	listeners []config.AgentListener
	upstream  *url.URL
	hc        *http.Client
	keeper    *tokenKeeper
	use       string
	cache     *respCache
	log       *slog.Logger
}

func newProxy(cfg *config.Agent, base *api.Client, keeper *tokenKeeper, log *slog.Logger) *proxy {
	u, _ := url.Parse(base.Address())
	p := &proxy{
		listeners: cfg.Listeners, upstream: u, hc: base.CloneConfig().HttpClient,
		keeper: keeper, use: cfg.UseAutoAuthToken, log: log,
	}
	if cfg.Cache != nil {
		p.cache = newRespCache(cfg.TemplateConfig.LeaseRenewalThreshold)
	}
	return p
}

// start listens on every listener and serves until the returned stop is
// called; a server that fails later reports on errc.
func (p *proxy) start(errc chan<- error) (func(), error) {
	var servers []*http.Server
	var sockets []string
	stop := func() {
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.Shutdown(ctx)
			cancel()
		}
		for _, path := range sockets {
			_ = os.Remove(path)
		}
	}
	for _, l := range p.listeners {
		ln, err := listen(l)
		if err != nil {
			stop()
			return nil, err
		}
		if l.Type == "unix" {
			sockets = append(sockets, l.Address)
		}
		srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("listener %s %s: %w", l.Type, l.Address, err)
			}
		}()
		p.log.Info("listening", "type", l.Type, "address", l.Address)
	}
	return stop, nil
}

// listen opens one listener: a unix socket (a stale socket file is
// replaced; the socket gets socket_mode) or TCP, with TLS unless disabled.
func listen(l config.AgentListener) (net.Listener, error) {
	if l.Type == "unix" {
		if err := os.Remove(l.Address); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("listener unix %s: %w", l.Address, err)
		}
		ln, err := net.Listen("unix", l.Address)
		if err != nil {
			return nil, fmt.Errorf("listener unix %s: %w", l.Address, err)
		}
		if err := os.Chmod(l.Address, l.SocketMode); err != nil {
			ln.Close()
			return nil, fmt.Errorf("listener unix %s: %w", l.Address, err)
		}
		return ln, nil
	}
	ln, err := net.Listen("tcp", l.Address)
	if err != nil {
		return nil, fmt.Errorf("listener tcp %s: %w", l.Address, err)
	}
	if l.TLSDisable {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(l.TLSCertFile, l.TLSKeyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("listener tcp %s: %w", l.Address, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/agent/v1/cache-clear" {
		p.cacheClear(w, r)
		return
	}
	if c := canonicalPath(r.URL.Path); c != r.URL.Path {
		r.URL.Path, r.URL.RawPath = c, ""
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxProxyBody))
	if err != nil {
		writeErrors(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	token := p.token(r)
	var key string
	if p.cache != nil && cacheable(r) {
		key = cacheKey(r, token, body)
		if e := p.cache.get(key); e != nil {
			// The server decides whether the token may still have
			// the answer: a token revoked since (through this
			// listener or not) gets the server's refusal instead,
			// and a token the answer holds (a login's, a created
			// one) is handed out only while it is valid.
			if (token == "" || p.tokenLive(r, token)) && (e.clientToken == "" || p.tokenLive(r, e.clientToken)) {
				e.write(w)
				return
			}
			p.cache.drop(key)
		}
	}
	resp, err := p.forward(r, token, body)
	if err != nil {
		p.log.Warn("proxy: server unreachable", "path", r.URL.Path, "error", err)
		writeErrors(w, http.StatusBadGateway, "coffer agent: cannot reach the server")
		return
	}
	if p.cache != nil && resp.status >= 200 && resp.status < 300 {
		if key != "" && resp.status == http.StatusOK {
			p.cache.put(key, strings.TrimPrefix(r.URL.Path, "/v1/"), resp)
		}
		if id, prefix := revokedLease(r, body); prefix {
			p.cache.evictPrefix(id)
		} else if id != "" {
			p.cache.evictLease(id)
		}
	}
	resp.write(w)
}

// canonicalPath drops the empty and "." segments of p, which the server
// ignores, so that the proxy classifies a request (cacheable or not, a
// revocation or not) by the path the server acts on. A trailing slash is
// kept; ".." is left for the server to refuse.
func canonicalPath(p string) string {
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		if s == "." || (s == "" && i != 0 && i != len(segs)-1) {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, "/")
}

// token picks the token to send: the caller's, or the auto-auth token per
// use_auto_auth_token, waiting for the first login if need be.
func (p *proxy) token(r *http.Request) string {
	tok := r.Header.Get("X-Vault-Token")
	if tok == "" {
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tok = strings.TrimSpace(b)
		}
	}
	if p.keeper == nil {
		return tok
	}
	if p.use == "force" || (p.use == "true" && tok == "") {
		// Before the first login, wait for it rather than send the
		// request without a token (as long as the caller waits).
		select {
		case <-p.keeper.ready:
		case <-r.Context().Done():
		}
		_, auto, _ := p.keeper.current()
		return auto
	}
	return tok
}

// tokenLive asks the server whether token is still valid (a lookup of
// itself, which every token's default policy allows); a token the server
// does not vouch for is never answered from the cache.
func (p *proxy) tokenLive(r *http.Request, token string) bool {
	u := *p.upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/auth/token/lookup-self"
	u.RawQuery = ""
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return false
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := p.hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode == http.StatusOK
}

// forward sends the request to the server and reads the whole answer.
func (p *proxy) forward(r *http.Request, token string, body []byte) (*cachedResponse, error) {
	u := *p.upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	for _, h := range append(hopHeaders, "X-Vault-Token", "Authorization") {
		req.Header.Del(h)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxProxyBody))
	if err != nil {
		return nil, err
	}
	h := resp.Header.Clone()
	for _, k := range hopHeaders {
		h.Del(k)
	}
	return &cachedResponse{status: resp.StatusCode, header: h, body: rb}, nil
}

func (p *proxy) cacheClear(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		writeErrors(w, http.StatusMethodNotAllowed, "cache-clear takes POST")
		return
	}
	if p.cache == nil {
		writeErrors(w, http.StatusBadRequest, "the agent has no cache block")
		return
	}
	var in struct{ Type, Value string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
		writeErrors(w, http.StatusBadRequest, "cache-clear takes {\"type\": \"all\"} or {\"type\": \"lease\", \"value\": LEASE_ID}")
		return
	}
	switch in.Type {
	case "all":
		p.cache.clear()
	case "lease":
		p.cache.evictLease(in.Value)
	default:
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf("cache-clear type %q is not supported (all, lease)", in.Type))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func writeErrors(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
}
