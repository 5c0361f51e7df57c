// Package router holds the mount table in memory and finds, for a request
// path, the mount that serves it by longest-prefix match. It is not
// responsible for persisting the table, building backends or authorising
// requests: the core does those and tells the router what is mounted.
package router

import (
	"strings"
	"sync"

	"github.com/cofferhq/coffer/internal/logical"
)

// Route is one mounted backend and what a request routed to it needs.
type Route struct {
	// Path is the mount point, ending in "/", e.g. "secret/" or "auth/token/".
	Path     string
	Type     string
	Accessor string
	Backend  logical.Backend
	Storage  logical.Storage
	// Special holds the backend's unauthenticated and sudo path patterns,
	// relative to the mount.
	Special *logical.Paths
	// PassthroughHeaders are the request headers (canonical names) the
	// backend is given, from the mount's passthrough_request_headers.
	PassthroughHeaders []string
	// AuditNonHMACRequestKeys and AuditNonHMACResponseKeys are the
	// mount's audit_non_hmac_request_keys and …_response_keys: the data
	// keys audit devices write in the clear.
	AuditNonHMACRequestKeys, AuditNonHMACResponseKeys []string
}

// Router maps path prefixes to routes. Safe for concurrent use; lookups take
// a read lock and allocate nothing.
type Router struct {
	mu     sync.RWMutex
	routes map[string]*Route
}

// New returns an empty Router.
func New() *Router { return &Router{routes: map[string]*Route{}} }

// Mount adds r, replacing any route at the same path.
func (rt *Router) Mount(r *Route) {
	if r.Special == nil {
		if pi, ok := r.Backend.(logical.PathInfo); ok {
			r.Special = pi.SpecialPaths()
		}
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.routes[r.Path] = r
}

// Unmount removes the route at path and returns it, or nil when none.
func (rt *Router) Unmount(path string) *Route {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	r := rt.routes[path]
	delete(rt.routes, path)
	return r
}

// Reset removes every route (on seal).
func (rt *Router) Reset() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.routes = map[string]*Route{}
}

// Match returns the route whose mount point is the longest prefix of path,
// and the rest of the path relative to it. It returns nil when no mount
// matches. A path naming the mount point without its trailing slash
// ("secret") matches the mount with an empty rest.
func (rt *Router) Match(path string) (*Route, string) {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	if r, ok := rt.routes[path+"/"]; ok {
		return r, ""
	}
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] != '/' {
			continue
		}
		if r, ok := rt.routes[path[:i+1]]; ok {
			return r, path[i+1:]
		}
	}
	return nil, ""
}

// Get returns the route mounted exactly at path, or nil.
func (rt *Router) Get(path string) *Route {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return rt.routes[path]
}

// MatchesPattern reports whether rest (a path relative to a mount) matches
// one of patterns, where a trailing "*" matches any suffix.
func MatchesPattern(patterns []string, rest string) bool {
	for _, p := range patterns {
		if strings.HasSuffix(p, "*") {
			if strings.HasPrefix(rest, p[:len(p)-1]) {
				return true
			}
		} else if p == rest {
			return true
		}
	}
	return false
}
