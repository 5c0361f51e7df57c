package token

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (s *Store) accessorPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    "accessors" + framework.OptionalTrailingSlash,
		Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: s.handleAccessorList},
		Help:       "List the accessors of live tokens (sudo).",
	}}
}

// handleAccessorList answers, as Vault does, with an empty list rather than
// a 404 when no token is live.
func (s *Store) handleAccessorList(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	accessors, err := s.Accessors(ctx)
	if err != nil {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": accessors}), nil
}

// Accessors returns, sorted, the accessors of every live service token
// (batch tokens have none). It reads the whole accessor index, so it is for
// operators, not request paths. Index entries that lead nowhere are
// skipped; Tidy removes them.
func (s *Store) Accessors(ctx context.Context) ([]string, error) {
	keys, err := s.storage.List(ctx, accessorPrefix)
	if err != nil {
		return nil, fmt.Errorf("list token accessors: %w", err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		e, err := s.accessorTarget(ctx, k)
		if err != nil {
			return nil, err
		}
		if e != nil && s.live(e) {
			out = append(out, e.Accessor)
		}
	}
	slices.Sort(out)
	return out, nil
}

// accessorTarget returns the entry the accessor index key k (the HMAC of
// an accessor) points at, or nil when the key or the entry is gone or the
// entry's accessor is not the one indexed. Dead entries are returned too.
func (s *Store) accessorTarget(ctx context.Context, k string) (*Entry, error) {
	ref, err := s.storage.Get(ctx, accessorPrefix+k)
	if err != nil {
		return nil, fmt.Errorf("read token accessor: %w", err)
	}
	if ref == nil {
		return nil, nil
	}
	e, err := s.load(ctx, string(ref.Value))
	if err != nil || e == nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(s.mac(e.Accessor)), []byte(k)) != 1 {
		return nil, nil
	}
	return e, nil
}
