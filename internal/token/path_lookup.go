package token

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (s *Store) lookupPaths() []*framework.Path {
	return []*framework.Path{
		{
			// As in Vault, GET reads the token from the query string, and
			// either verb without one describes the caller's own token.
			// Vault no longer serves lookup/<token>: a token in the path
			// ends up in access logs.
			Pattern: "lookup",
			Fields:  map[string]*framework.FieldSchema{"token": {Type: framework.TypeString, Description: "Token to look up; defaults to the caller's."}},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   s.handleLookup,
				logical.UpdateOperation: s.handleLookup,
			},
			Help: "Describe a token.",
		},
		{
			Pattern: "lookup-self",
			Fields:  map[string]*framework.FieldSchema{},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   s.handleLookupSelf,
				logical.UpdateOperation: s.handleLookupSelf,
			},
			Help: "Describe the caller's token.",
		},
		{
			Pattern: "lookup-accessor",
			Fields:  map[string]*framework.FieldSchema{"accessor": {Type: framework.TypeString, Description: "Accessor of the token."}},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: s.handleLookupAccessor,
			},
			Help: "Describe a token by its accessor.",
		},
	}
}

func (s *Store) handleLookup(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.String("token")
	if id == "" {
		return s.handleLookupSelf(ctx, req, d)
	}
	return s.lookupResponse(ctx, id)
}

func (s *Store) handleLookupSelf(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if req.ClientToken == "" {
		return nil, ErrMissingToken
	}
	if IsBatch(req.ClientToken) {
		return s.lookupResponse(ctx, req.ClientToken)
	}
	// The entry that authenticated this very request describes the token
	// even when that request spent its last use.
	if e := usedEntry(ctx); e != nil && subtle.ConstantTimeCompare([]byte(e.Hash), []byte(s.mac(req.ClientToken))) == 1 {
		left := *e
		if left.NumUses > 0 {
			left.NumUses--
		}
		return logical.DataResponse(s.lookupData(&left, req.ClientToken)), nil
	}
	return s.lookupResponse(ctx, req.ClientToken)
}

func (s *Store) lookupResponse(ctx context.Context, id string) (*logical.Response, error) {
	e, err := s.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, ErrBadToken
	}
	return logical.DataResponse(s.lookupData(e, id)), nil
}

// accessorEntry is the live token named by the request's accessor field.
func (s *Store) accessorEntry(ctx context.Context, d *framework.FieldData) (*Entry, error) {
	acc := d.String("accessor")
	if acc == "" {
		return nil, ErrMissingAccessor
	}
	e, err := s.LookupAccessor(ctx, acc)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, ErrInvalidAccessor
	}
	return e, nil
}

func (s *Store) handleLookupAccessor(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	e, err := s.accessorEntry(ctx, d)
	if err != nil {
		return nil, err
	}
	return logical.DataResponse(s.lookupData(e, "")), nil
}

// lookupData is Vault's lookup shape. id is the token itself, shown only to
// someone who presented it; "" for lookups by accessor.
func (s *Store) lookupData(e *Entry, id string) map[string]any {
	var expire any
	var ttl int64
	if !e.ExpireTime.IsZero() {
		expire = e.ExpireTime.Format(time.RFC3339Nano)
		ttl = max(int64(e.ExpireTime.Sub(s.now())/time.Second), 0)
	}
	var meta any
	if len(e.Meta) > 0 {
		meta = e.Meta
	}
	data := map[string]any{
		"accessor":         e.Accessor,
		"creation_time":    e.CreationTime.Unix(),
		"creation_ttl":     int64(e.TTL / time.Second),
		"display_name":     e.DisplayName,
		"entity_id":        e.EntityID,
		"expire_time":      expire,
		"explicit_max_ttl": int64(e.ExplicitMaxTTL / time.Second),
		"id":               id,
		"issue_time":       e.CreationTime.Format(time.RFC3339Nano),
		"meta":             meta,
		"num_uses":         e.NumUses,
		"orphan":           e.Orphan,
		"path":             e.Path,
		"policies":         e.Policies,
		"renewable":        e.Renewable,
		"ttl":              ttl,
		"type":             e.Type,
	}
	if e.Period > 0 {
		data["period"] = int64(e.Period / time.Second)
	}
	if len(e.BoundCIDRs) > 0 {
		data["bound_cidrs"] = e.BoundCIDRs
	}
	if e.Role != "" {
		data["role"] = e.Role
	}
	if e.EntityID != "" && s.identity != nil {
		if ip := s.identity(e.EntityID); len(ip) > 0 {
			data["identity_policies"] = ip
		}
	}
	return data
}
