package wrapping

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/cofferhq/coffer/internal/cubbyhole"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/token"
)

// Cubbyhole keys of a wrapping token, as Vault lays them out: the wrapped
// response (the envelope's JSON as a string under "response") and what
// sys/wrapping/lookup reports.
const (
	responseKey = "response"
	infoKey     = "wrapinfo"
)

// Tokens is what wrapping needs from the token store (token.Store).
type Tokens interface {
	// CreateWrapping issues a wrapping token living ttl for path.
	CreateWrapping(ctx context.Context, ttl time.Duration, path string) (string, *token.Entry, error)
	// Lookup returns a live token's entry without spending a use; Use
	// spends one; both return nil for a token that may not be used.
	Lookup(ctx context.Context, id string) (*token.Entry, error)
	Use(ctx context.Context, id string) (*token.Entry, error)
	// Revoke revokes the token named by hash, destroying its cubbyhole.
	Revoke(ctx context.Context, hash string) error
	HashID(id string) string
}

// Manager wraps and unwraps responses. Safe for concurrent use.
type Manager struct {
	tokens Tokens
	cubby  *cubbyhole.Store
	logger *slog.Logger
}

// New returns a Manager issuing wrapping tokens from tokens and keeping
// wrapped responses in their cubbyholes in cubby.
func New(tokens Tokens, cubby *cubbyhole.Store, logger *slog.Logger) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{tokens: tokens, cubby: cubby, logger: logger}
}

// Request describes the request whose response is being wrapped.
type Request struct {
	// ID is the request's ID, which the unwrapped response reports.
	ID string
	// Path is the request path, recorded as the creation path.
	Path string
	// MountType is the type of the mount that answered ("approle": a
	// secret ID's accessor is reported as the wrapped accessor).
	MountType string
	// TTL is the wrapping token's life.
	TTL time.Duration
}

// Wrap keeps resp, as the client would have received it, in the cubbyhole
// of a new wrapping token and returns the token's description; nothing is
// left behind when it fails. resp itself is not changed.
func (m *Manager) Wrap(ctx context.Context, req Request, resp *logical.Response) (*logical.WrapInfo, error) {
	body, err := json.Marshal(logical.NewEnvelope(req.ID, resp))
	if err != nil {
		return nil, fmt.Errorf("encode wrapped response: %w", err)
	}
	return m.wrapBody(ctx, req.TTL, req.Path, req.Path, string(body), wrappedAccessor(req, resp))
}

// wrappedAccessor is the accessor of what resp hands out, when it has one.
func wrappedAccessor(req Request, resp *logical.Response) string {
	if resp.Auth != nil {
		return resp.Auth.Accessor
	}
	if req.MountType == "approle" {
		if a, ok := resp.Data["secret_id_accessor"].(string); ok {
			return a
		}
	}
	return ""
}

// wrapBody issues a wrapping token for tokenPath and stores body and the
// lookup information (creationPath, the token's TTL and creation time) in
// its cubbyhole, revoking the token if that fails.
func (m *Manager) wrapBody(ctx context.Context, ttl time.Duration, tokenPath, creationPath, body, wrapped string) (*logical.WrapInfo, error) {
	id, e, err := m.tokens.CreateWrapping(ctx, ttl, tokenPath)
	if err != nil {
		return nil, fmt.Errorf("create wrapping token: %w", err)
	}
	info := &logical.WrapInfo{
		Token: id, Accessor: e.Accessor, TTL: e.TTL, CreationTime: e.CreationTime,
		CreationPath: creationPath, WrappedAccessor: wrapped,
	}
	err = m.cubby.Put(ctx, e.Hash, responseKey, map[string]any{responseKey: body})
	if err == nil {
		err = m.cubby.Put(ctx, e.Hash, infoKey, map[string]any{
			"creation_ttl": int64(e.TTL / time.Second), "creation_time": e.CreationTime.Format(time.RFC3339Nano),
			"creation_path": creationPath, "wrapped_accessor": wrapped,
		})
	}
	if err != nil {
		if rerr := m.tokens.Revoke(context.WithoutCancel(ctx), e.Hash); rerr != nil {
			m.logger.Error("revoke wrapping token after a failed wrap", "accessor", e.Accessor, "error", rerr.Error())
		}
		return nil, fmt.Errorf("store wrapped response: %w", err)
	}
	return info, nil
}
