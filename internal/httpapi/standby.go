package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Standby forwarding. A Handler that is also a Standby is asked, for every
// request, whether this node stands by for another; if so, every request
// but the node-local ones goes to the active node through the Forwarder,
// before anything of it is read, and the active node's answer is relayed
// unchanged. The caller's address (RemoteAddr, already resolved through
// the listener's trusted proxies) travels as X-Forwarded-For, which the
// active node believes only on its cluster listener (FromStandby), so audit
// entries, quotas and bound CIDRs see the client, not the standby.

// ActiveNode is where the active node can be reached, as it advertised.
type ActiveNode struct{ APIAddr, ClusterAddr string }

// Standby is implemented by a Handler that may stand by for another node.
type Standby interface {
	// ActiveNode reports whether this node stands by and, if so, where the
	// active node is (empty addresses while none is known). It is called
	// for every request and must be cheap.
	ActiveNode() (apiAddr, clusterAddr string, standby bool)
}

// Forwarder carries a request a standby received to the active node and
// writes the active node's answer to w unchanged (status, headers, body).
// When the active node cannot be reached it writes an error itself (503).
// r.RemoteAddr is the client; the Forwarder sends it as X-Forwarded-For.
// The cluster port's implementation is forward.Client; another transport
// (HTTPS to the api_addr) would implement the same method.
type Forwarder interface {
	Forward(w http.ResponseWriter, r *http.Request, to ActiveNode)
}

// NodeLocalPaths are answered by the node that receives them, standby or
// not, as in Vault: health and status, and the steps of unsealing. A
// standby refuses sys/seal itself (it cannot check the token).
var NodeLocalPaths = []string{"sys/health", "sys/leader", "sys/seal-status", "sys/init", "sys/unseal", "sys/seal"}

type fromStandbyKey struct{}

// forwardIfStandby forwards r when this node stands by and r is not
// node-local, and reports whether it did. Requests that arrived from a
// standby are never forwarded again: if this node stopped being active
// meanwhile the core answers 503, and the client retries.
func (a *api) forwardIfStandby(w http.ResponseWriter, r *http.Request) bool {
	s, ok := a.core.(Standby)
	if !ok || a.forwarder == nil {
		return false
	}
	apiAddr, clusterAddr, standby := s.ActiveNode()
	if !standby || (apiAddr == "" && clusterAddr == "") || r.Context().Value(fromStandbyKey{}) != nil {
		return false
	}
	path, err := logical.CleanPath(strings.TrimPrefix(r.URL.Path, "/v1/"))
	if err != nil || slices.Contains(NodeLocalPaths, strings.TrimSuffix(path, "/")) {
		return false
	}
	if !a.limitForwarded(w, r, path) {
		return true
	}
	w.Header().Del("Cache-Control") // the active node's answer sets its own
	a.forwarder.Forward(w, r, ActiveNode{APIAddr: apiAddr, ClusterAddr: clusterAddr})
	return true
}

// limitForwarded gives a request this standby forwards the body settings
// of the listener it came in on, which the active node cannot know (it
// reads forwarded requests with the defaults): max_request_size, refused
// here with a 413 when the declared length is over it and cut off when a
// chunked body grows past it, and the long read deadline of a streamed
// snapshot upload (decode), which the listener's read timeout would
// otherwise end after 30 s. It reports false when it answered itself.
func (a *api) limitForwarded(w http.ResponseWriter, r *http.Request, path string) bool {
	if (r.Method == http.MethodPost || r.Method == http.MethodPut) && slices.Contains(streamedBodyPaths, strings.TrimSuffix(path, "/")) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(streamedBodyTimeout))
		return true
	}
	if a.max < 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if r.ContentLength > a.max {
		a.writeError(w, r, "", fmt.Errorf("%w: the limit is %d bytes", errBodyTooBig, a.max))
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.max)
	return true
}

// FromStandby wraps the API handler served to standbys on the cluster port
// (whose peers proved cluster membership with mutual TLS): the client
// address is taken from the last X-Forwarded-For entry the standby set,
// and the request is not forwarded again. Never put it on a client
// listener.
func FromStandby(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Values("X-Forwarded-For"); len(v) > 0 {
			chain := strings.Split(v[len(v)-1], ",")
			if ip, err := netip.ParseAddr(strings.TrimSpace(chain[len(chain)-1])); err == nil {
				r.RemoteAddr = net.JoinHostPort(ip.Unmap().String(), "0")
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), fromStandbyKey{}, true)))
	})
}
