package wrapping

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/token"
)

// TokenPaths are the request paths that take a wrapping token, either as
// the request's own token or in the body's "token": the core checks it with
// Check before authorising, as Vault's HTTP layer does.
var TokenPaths = []string{"sys/wrapping/unwrap", "sys/wrapping/lookup", "sys/wrapping/rewrap"}

// TakesToken reports whether path is one of TokenPaths (with or without a
// trailing slash).
func TakesToken(path string) bool {
	p := strings.TrimSuffix(path, "/")
	for _, t := range TokenPaths {
		if p == t {
			return true
		}
	}
	return false
}

// bodyToken returns the "token" of a request's data: "" when absent, a 400
// when it is not a non-empty string.
func bodyToken(data map[string]any) (string, error) {
	raw, ok := data["token"]
	if !ok || raw == nil {
		return "", nil
	}
	s, ok := raw.(string)
	switch {
	case !ok:
		return "", logical.InvalidRequest("could not decode token in request body")
	case strings.TrimSpace(s) == "":
		return "", logical.InvalidRequest("empty token in request body")
	}
	return strings.TrimSpace(s), nil
}

// Check is asked before a request to one of TokenPaths is authorised: the
// wrapping token it names (in the body, or else the request's own token)
// must be a live wrapping token, or the answer is ErrInvalidToken, a 400,
// as in Vault, instead of the 403 an unknown token would otherwise get. It
// spends no use. A request naming no token at all passes, for
// authorisation or the handler to refuse.
func (m *Manager) Check(ctx context.Context, clientToken string, data map[string]any) error {
	tok, err := bodyToken(data)
	if err != nil {
		return err
	}
	if tok == "" {
		tok = clientToken
	}
	if tok == "" {
		return nil
	}
	e, err := m.tokens.Lookup(ctx, tok)
	if err != nil {
		return err
	}
	if !e.IsWrapping() {
		return ErrInvalidToken
	}
	return nil
}

// claim takes the wrapping token a request unwraps or rewraps: tok, the
// body's token, whose single use it spends here (a third party's request:
// the caller must revoke it when done), or when tok is empty the
// request's own, whose use the core spent when it authenticated the
// request (and which it revokes afterwards). Of concurrent claims of one
// token exactly one succeeds.
func (m *Manager) claim(ctx context.Context, clientToken, tok string) (*token.Entry, bool, error) {
	tok = strings.TrimSpace(tok)
	if tok != "" {
		if e, err := m.tokens.Lookup(ctx, tok); err != nil || !e.IsWrapping() {
			return nil, false, orInvalid(err)
		}
		e, err := m.tokens.Use(ctx, tok)
		if err != nil || !e.IsWrapping() {
			return nil, false, orInvalid(err)
		}
		return e, true, nil
	}
	e := token.UsedEntry(ctx)
	if !e.IsWrapping() || subtle.ConstantTimeCompare([]byte(e.Hash), []byte(m.tokens.HashID(clientToken))) != 1 {
		return nil, false, ErrInvalidToken
	}
	return e, false, nil
}

func orInvalid(err error) error {
	if err != nil {
		return err
	}
	return ErrInvalidToken
}

// release revokes a third party's claimed token, destroying its cubbyhole.
func (m *Manager) release(ctx context.Context, e *token.Entry) {
	if err := m.tokens.Revoke(context.WithoutCancel(ctx), e.Hash); err != nil {
		m.logger.Error("revoke unwrapped wrapping token", "accessor", e.Accessor, "error", err.Error())
	}
}

// Unwrap returns the wrapped response, the JSON body the client would have
// received, exactly once: the wrapping token is tok (the body's "token")
// or, when that is empty, the request's own token; either is gone
// afterwards.
func (m *Manager) Unwrap(ctx context.Context, clientToken, tok string) (json.RawMessage, error) {
	e, third, err := m.claim(ctx, clientToken, tok)
	if err != nil {
		return nil, err
	}
	if third {
		defer m.release(ctx, e)
	}
	stored, err := m.cubby.Get(ctx, e.Hash, responseKey)
	if err != nil {
		return nil, err
	}
	body, _ := stored[responseKey].(string)
	if body == "" {
		return nil, ErrInvalidToken
	}
	return json.RawMessage(body), nil
}

// Lookup reports a live wrapping token's creation_ttl (seconds),
// creation_time and creation_path, as Vault's sys/wrapping/lookup does,
// without spending its use. The token is tok or, when that is empty, the
// request's own.
func (m *Manager) Lookup(ctx context.Context, clientToken, tok string) (map[string]any, error) {
	if tok = strings.TrimSpace(tok); tok == "" {
		tok = clientToken
	}
	if tok == "" {
		return nil, ErrMissingToken
	}
	e, err := m.tokens.Lookup(ctx, tok)
	if err != nil || !e.IsWrapping() {
		return nil, orInvalid(err)
	}
	info, err := m.cubby.Get(ctx, e.Hash, infoKey)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, ErrInvalidToken
	}
	out := map[string]any{
		"creation_ttl": info["creation_ttl"], "creation_time": info["creation_time"], "creation_path": info["creation_path"],
	}
	return out, nil
}

// Rewrap moves a wrapped response into a new wrapping token with the same
// TTL and creation path, and invalidates the old token (tok, or else the
// request's own), which may not be unwrapped afterwards.
func (m *Manager) Rewrap(ctx context.Context, clientToken, tok string) (*logical.WrapInfo, error) {
	e, third, err := m.claim(ctx, clientToken, tok)
	if err != nil {
		return nil, err
	}
	if third {
		defer m.release(ctx, e)
	}
	stored, err := m.cubby.Get(ctx, e.Hash, responseKey)
	if err != nil {
		return nil, err
	}
	info, err := m.cubby.Get(ctx, e.Hash, infoKey)
	if err != nil {
		return nil, err
	}
	body, _ := stored[responseKey].(string)
	if body == "" || info == nil {
		return nil, ErrInvalidToken
	}
	ttl := time.Duration(jsonInt(info["creation_ttl"])) * time.Second
	path, _ := info["creation_path"].(string)
	wrapped, _ := info["wrapped_accessor"].(string)
	return m.wrapBody(ctx, ttl, "sys/wrapping/rewrap", path, body, wrapped)
}

// jsonInt reads a whole number stored as JSON, or 0.
func jsonInt(v any) int64 {
	n, ok := v.(json.Number)
	if !ok {
		return 0
	}
	i, _ := n.Int64()
	return i
}
