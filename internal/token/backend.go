package token

import (
	"context"
	"slices"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// defaultMount is where the token routes live when a request does not say.
const defaultMount = "auth/token/"

// Backend returns the auth/token/ routes backed by s. Requests must carry
// the caller's token in ClientToken; the core has already authorised the
// path (including sudo for the SpecialPaths Root entries). The backend does
// not stop the store: the core calls Stop when it seals.
func (s *Store) Backend() logical.Backend {
	return &framework.Backend{
		Paths: slices.Concat(s.createPaths(), s.lookupPaths(), s.renewPaths(), s.revokePaths(),
			s.rolePaths(), s.accessorPaths(), s.tidyPaths()),
		Special: &logical.Paths{
			Root: []string{"create-orphan", "revoke-orphan", "accessors*"},
		},
	}
}

// caller returns the live entry of the request's token, or ErrNoCaller.
func (s *Store) caller(ctx context.Context, req *logical.Request) (*Entry, error) {
	e, err := s.Lookup(ctx, req.ClientToken)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, ErrNoCaller
	}
	return e, nil
}

// routePath is the full path of the route a request reached, recorded in
// the entries it creates.
func routePath(req *logical.Request) string {
	mount := req.MountPoint
	if mount == "" {
		mount = defaultMount
	}
	return mount + req.Path
}

// authResponse is the Auth block Vault returns for create and renew.
func authResponse(id string, e *Entry, ttl time.Duration) *logical.Response {
	auth := &logical.Auth{}
	fillAuth(auth, id, e)
	auth.LeaseDuration = ttl
	return &logical.Response{Auth: auth}
}
