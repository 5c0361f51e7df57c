package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxCacheEntries bounds the proxy cache; past it expired entries are
// dropped first, then new responses are not cached.
const maxCacheEntries = 10000

// cachedResponse is one upstream answer, kept whole.
type cachedResponse struct {
	status      int
	header      http.Header
	body        []byte
	leaseID     string
	clientToken string // the token the answer holds, if any
	path        string // the request's API path, without /v1/
	expires     time.Time
}

func (c *cachedResponse) write(w http.ResponseWriter) {
	for k, v := range c.header {
		w.Header()[k] = v
	}
	w.WriteHeader(c.status)
	_, _ = w.Write(c.body)
}

// respCache keeps leased responses (dynamic secrets, logins and created
// tokens) keyed by a hash of the request and its token, until
// lease_renewal_threshold of their lease has passed. Safe for concurrent use.
type respCache struct {
	threshold float64
	mu        sync.Mutex
	entries   map[string]*cachedResponse
}

func newRespCache(threshold float64) *respCache {
	return &respCache{threshold: threshold, entries: map[string]*cachedResponse{}}
}

// get returns the live entry for key, or nil.
func (c *respCache) get(key string) *cachedResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil {
		return nil
	}
	if time.Now().After(e.expires) {
		delete(c.entries, key)
		return nil
	}
	return e
}

// put keeps resp, the answer to a request for path (without /v1/), when it
// carries a lease or a new token.
func (c *respCache) put(key, path string, resp *cachedResponse) {
	var env struct {
		LeaseID       string `json:"lease_id"`
		LeaseDuration int64  `json:"lease_duration"`
		Auth          *struct {
			ClientToken   string `json:"client_token"`
			LeaseDuration int64  `json:"lease_duration"`
		} `json:"auth"`
	}
	if json.Unmarshal(resp.body, &env) != nil {
		return
	}
	ttl := env.LeaseDuration
	if env.LeaseID == "" {
		if env.Auth == nil || env.Auth.ClientToken == "" {
			return
		}
		ttl = env.Auth.LeaseDuration
	}
	if ttl <= 0 {
		return
	}
	resp.leaseID, resp.path = env.LeaseID, path
	if env.Auth != nil {
		resp.clientToken = env.Auth.ClientToken
	}
	resp.expires = time.Now().Add(scale(time.Duration(ttl)*time.Second, c.threshold))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCacheEntries {
		now := time.Now()
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCacheEntries {
			return
		}
	}
	c.entries[key] = resp
}

func (c *respCache) evictLease(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.leaseID == id {
			delete(c.entries, k)
		}
	}
}

// evictPrefix drops what a revoke-prefix of prefix revoked: leases under
// it, and tokens created by logins or token creations under it (whose
// responses carry no lease ID).
func (c *respCache) evictPrefix(prefix string) {
	prefix = strings.Trim(prefix, "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if strings.HasPrefix(e.leaseID, prefix) || strings.HasPrefix(e.path, prefix) {
			delete(c.entries, k)
		}
	}
}

func (c *respCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}

func (c *respCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]*cachedResponse{}
}

// cacheable says whether a request's answer may be cached: reads and
// writes of secrets and logins, not sys/ (whose renewals also carry lease
// IDs) nor the token store's renew, lookup and revoke.
func cacheable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodPut, http.MethodPost:
	default:
		return false
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v1/sys/") {
		return false
	}
	for _, pre := range []string{"/v1/auth/token/renew", "/v1/auth/token/lookup", "/v1/auth/token/revoke"} {
		if strings.HasPrefix(p, pre) {
			return false
		}
	}
	return r.Header.Get("X-Vault-Wrap-TTL") == ""
}

// cacheKey hashes everything that makes two requests the same, the token
// included, so one caller never receives another's secret.
func cacheKey(r *http.Request, token string, body []byte) string {
	h := sha256.New()
	for _, s := range []string{r.Method, r.URL.Path, r.URL.RawQuery, token} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// revokedLease returns the lease a successful request revoked, if any,
// or with prefix true the prefix a revoke-prefix or revoke-force revoked.
func revokedLease(r *http.Request, body []byte) (id string, prefix bool) {
	p := r.URL.Path
	for _, pre := range []string{"/v1/sys/leases/revoke-prefix/", "/v1/sys/leases/revoke-force/",
		"/v1/sys/revoke-prefix/", "/v1/sys/revoke-force/"} {
		if id, ok := strings.CutPrefix(p, pre); ok && strings.Trim(id, "/") != "" {
			return id, true
		}
	}
	for _, pre := range []string{"/v1/sys/leases/revoke/", "/v1/sys/revoke/"} {
		if id, ok := strings.CutPrefix(p, pre); ok && id != "" {
			return id, false
		}
	}
	if p == "/v1/sys/leases/revoke" || p == "/v1/sys/revoke" {
		var in struct {
			LeaseID string `json:"lease_id"`
		}
		if json.Unmarshal(body, &in) == nil {
			return in.LeaseID, false
		}
	}
	return "", false
}
