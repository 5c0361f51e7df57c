package audit

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cofferhq/coffer/internal/logical"
)

// headersKey is where the audited request headers are kept, in the
// broker's storage.
const headersKey = "headers"

// HeaderConfig is the set of request headers every device records in a
// line's request.headers (sys/config/auditing/request-headers), each
// HMAC'd or not. A HeaderConfig is never changed once built: the broker
// swaps in a new one.
type HeaderConfig struct {
	// names are lower-case and sorted: the order lines write them in.
	names []string
	hmac  map[string]bool
}

func newHeaderConfig(m map[string]bool) *HeaderConfig {
	h := &HeaderConfig{hmac: make(map[string]bool, len(m))}
	for n, v := range m {
		h.hmac[n] = v
		h.names = append(h.names, n)
	}
	slices.Sort(h.names)
	return h
}

// headerSettings is one audited header as stored and reported.
type headerSettings struct {
	HMAC bool `json:"hmac"`
}

// AuditedHeaders returns the audited request headers, by lower-case
// name, with whether each is HMAC'd. Empty, never nil, when there are none.
func (b *Broker) AuditedHeaders() map[string]bool {
	h := b.headers.Load()
	out := make(map[string]bool, len(h.names))
	for n, v := range h.hmac {
		out[n] = v
	}
	return out
}

// SetAuditedHeader records header (any case; kept lower-case) in every
// line from now on, HMAC'd when hmac is set.
func (b *Broker) SetAuditedHeader(ctx context.Context, header string, hmac bool) error {
	name, err := headerName(header)
	if err != nil {
		return err
	}
	return b.changeHeaders(ctx, func(m map[string]bool) { m[name] = hmac })
}

// DeleteAuditedHeader stops recording header; one that is not audited is
// not an error.
func (b *Broker) DeleteAuditedHeader(ctx context.Context, header string) error {
	name, err := headerName(header)
	if err != nil {
		return err
	}
	return b.changeHeaders(ctx, func(m map[string]bool) { delete(m, name) })
}

func (b *Broker) changeHeaders(ctx context.Context, change func(map[string]bool)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.AuditedHeaders()
	change(m)
	stored := make(map[string]headerSettings, len(m))
	for n, v := range m {
		stored[n] = headerSettings{HMAC: v}
	}
	if err := logical.PutJSON(ctx, b.storage, headersKey, stored); err != nil {
		return fmt.Errorf("write the audited request headers: %w", err)
	}
	b.headers.Store(newHeaderConfig(m))
	return nil
}

// loadHeaders reads the audited headers at Open.
func (b *Broker) loadHeaders(ctx context.Context) error {
	var stored map[string]headerSettings
	if _, err := logical.GetJSON(ctx, b.storage, headersKey, &stored); err != nil {
		return fmt.Errorf("read the audited request headers: %w", err)
	}
	m := make(map[string]bool, len(stored))
	for n, s := range stored {
		m[n] = s.HMAC
	}
	b.headers.Store(newHeaderConfig(m))
	return nil
}

// headerName checks and lower-cases a header name. The token headers are
// refused: their values must never reach a log, even HMAC'd on request.
func headerName(h string) (string, error) {
	name := strings.ToLower(strings.TrimSpace(h))
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return !isTokenChar(r) }) {
		return "", fmt.Errorf("%w: %q is not a header name", ErrInvalidConfig, h)
	}
	if name == "x-vault-token" || name == "authorization" {
		return "", fmt.Errorf("%w: the %s header carries the caller's token and is never audited", ErrInvalidConfig, http.CanonicalHeaderKey(name))
	}
	return name, nil
}

// isTokenChar reports whether r may appear in a header name (RFC 9110 token).
func isTokenChar(r rune) bool {
	return r < 0x80 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}
