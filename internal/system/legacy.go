package system

import (
	"context"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// topLevelPaths are the sys/ paths (relative to "sys/") whose responses
// Vault's HTTP layer renders in its legacy shape, with every data field at
// the top level of the body as well: an entry ending in "/" covers the
// paths under it, any other entry that exact path. The list follows
// Vault's, including paths Coffer does not serve yet, so that a route
// added there later answers in the shape its clients expect.
var topLevelPaths = []string{
	"audit", "audit/", "audit-hash/", "auth", "auth/",
	"capabilities", "capabilities-accessor", "capabilities-self",
	"config/auditing/request-headers", "config/auditing/request-headers/", "config/cors",
	"ha-status", "key-status", "mounts", "mounts/", "policy", "policy/",
	"rekey/backup", "rekey/recovery-key-backup", "remount", "rotate", "wrapping/wrap",
}

// atTopLevel reports whether a response to path takes the legacy shape.
func atTopLevel(path string) bool {
	for _, p := range topLevelPaths {
		if path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
			return true
		}
	}
	return false
}

// sysBackend is the route table plus the legacy response shape.
type sysBackend struct{ *framework.Backend }

// HandleRequest serves req and marks the responses Vault renders in its
// legacy shape (see logical.Response.DataAtTopLevel).
func (b sysBackend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	resp, err := b.Backend.HandleRequest(ctx, req)
	if resp != nil && atTopLevel(req.Path) {
		resp.DataAtTopLevel = true
	}
	return resp, err
}
