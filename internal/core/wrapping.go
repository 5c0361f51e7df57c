package core

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/cofferhq/coffer/internal/cubbyhole"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/token"
	"github.com/cofferhq/coffer/internal/wrapping"
)

// cubbyholePrefix is the barrier prefix of every token's cubbyhole.
const cubbyholePrefix = "sys/cubbyhole/"

// destroyCubbyhole is the token store's OnRevoke: a token's cubbyhole (a
// wrapped response, say) goes with it.
func (c *Core) destroyCubbyhole(cubby *cubbyhole.Store) func(context.Context, *token.Entry) {
	return func(ctx context.Context, e *token.Entry) {
		if err := cubby.Destroy(ctx, e.Hash); err != nil {
			c.logger.ErrorContext(ctx, "destroy the cubbyhole of a revoked token", "accessor", e.Accessor, "error", err.Error())
		}
	}
}

// tidyCubbyholes destroys, once per unseal, the cubbyholes whose token a
// crash kept from taking them along.
func (c *Core) tidyCubbyholes(ctx context.Context, cubby *cubbyhole.Store, ts *token.Store) {
	n, err := cubby.Tidy(ctx, ts.Exists)
	switch {
	case err != nil && ctx.Err() == nil:
		c.logger.Error("tidy cubbyholes", "destroyed", n, "error", err.Error())
	case n > 0:
		c.logger.Info("destroyed the cubbyholes of tokens that are gone", "count", n)
	}
}

// wrapResponse replaces resp by a response-wrapping token holding it when
// req asked for wrapping. Nothing is wrapped that has nothing to say, is
// already wrapped, is written raw (sys/health, an unwrapped response) or
// carries a status of its own.
func wrapResponse(ctx context.Context, st *active, req *logical.Request, mountType string, resp *logical.Response) (*logical.Response, error) {
	if req.WrapTTL == 0 || resp == nil || resp.WrapInfo != nil || resp.Raw != nil || (resp.Status != 0 && resp.Status != http.StatusOK) {
		return resp, nil
	}
	info, err := st.wrapper.Wrap(ctx, wrapping.Request{ID: req.ID, Path: req.Path, MountType: mountType, TTL: req.WrapTTL}, resp)
	if err != nil {
		return nil, err
	}
	return &logical.Response{WrapInfo: info, Warnings: resp.Warnings}, nil
}

// Unwrap implements system.Wrapping.
func (a sysAdapter) Unwrap(ctx context.Context, clientToken, tok string) (json.RawMessage, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.wrapper.Unwrap(ctx, clientToken, tok)
}

// WrapLookup implements system.Wrapping.
func (a sysAdapter) WrapLookup(ctx context.Context, clientToken, tok string) (map[string]any, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.wrapper.Lookup(ctx, clientToken, tok)
}

// Rewrap implements system.Wrapping.
func (a sysAdapter) Rewrap(ctx context.Context, clientToken, tok string) (*logical.WrapInfo, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.wrapper.Rewrap(ctx, clientToken, tok)
}
