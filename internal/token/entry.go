package token

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Entry is what the store knows about one token. It never holds the token ID
// itself, only Hash, the salted HMAC of it. Entries returned by the Store are
// copies (changing one changes nothing stored), except Use's, which may be
// the cache's own entry, shared and read-only.
type Entry struct {
	// Hash is hex(HMAC-SHA256(salt, id)); it names the token in storage,
	// in the parent index and in Revoke.
	Hash     string `json:"hash"`
	Accessor string `json:"accessor"`
	// Policies are sorted and deduplicated; "default" is included unless
	// the token was created with no_default_policy or is a root token.
	Policies []string `json:"policies"`
	// ParentHash is empty for orphans.
	ParentHash  string            `json:"parent_hash,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	DisplayName string            `json:"display_name"`
	// NumUses is the number of uses left; 0 means unlimited.
	NumUses        int           `json:"num_uses"`
	CreationTime   time.Time     `json:"creation_time"`
	TTL            time.Duration `json:"ttl"`
	ExplicitMaxTTL time.Duration `json:"explicit_max_ttl"`
	Period         time.Duration `json:"period"`
	Renewable      bool          `json:"renewable"`
	// ExpireTime is zero for tokens that never expire (root tokens created
	// without a TTL).
	ExpireTime time.Time `json:"expire_time"`
	Orphan     bool      `json:"orphan"`
	// Path is the route that issued the token, such as "auth/token/create".
	Path     string `json:"path"`
	Type     string `json:"type"`
	EntityID string `json:"entity_id"`
	// Revoking is set once revocation has begun: the token is already dead
	// to Lookup and may no longer create children while its subtree is
	// being revoked.
	Revoking bool `json:"revoking,omitempty"`
	// BoundCIDRs limits where the token may be used from; empty is anywhere.
	// A child inherits its parent's.
	BoundCIDRs []string `json:"bound_cidrs,omitempty"`
	// SpareChildren records that the revocation under way is a
	// revoke-orphan, so that one finished after a crash spares the children.
	SpareChildren bool `json:"spare_children,omitempty"`
	// Role is the token role the token was created against, if any.
	Role string `json:"role,omitempty"`
}

// The token types. A service token is stored and has an accessor; a batch
// token is not stored at all: the token itself carries its entry, sealed
// under a key only the unsealed store holds (see batch.go).
const (
	TypeService = "service"
	TypeBatch   = "batch"
)

// IsBatch reports whether id has the form of a batch token. It says nothing
// about whether the token is genuine.
func IsBatch(id string) bool { return strings.HasPrefix(id, batchPrefix) }

// IsRoot reports whether the entry carries the root policy.
func (e *Entry) IsRoot() bool { return slices.Contains(e.Policies, "root") }

// expired reports whether e has an expiry at or before now.
func (e *Entry) expired(now time.Time) bool {
	return !e.ExpireTime.IsZero() && !now.Before(e.ExpireTime)
}

// Clone returns a deep copy of e, for a caller that wants to change an
// entry Use returned (which may be shared).
func (e *Entry) Clone() *Entry { return e.clone() }

// clone returns a deep copy, so that cached entries are never shared.
func (e *Entry) clone() *Entry {
	c := *e
	c.Policies = slices.Clone(e.Policies)
	c.BoundCIDRs = slices.Clone(e.BoundCIDRs)
	if e.Meta != nil {
		c.Meta = make(map[string]string, len(e.Meta))
		for k, v := range e.Meta {
			c.Meta[k] = v
		}
	}
	return &c
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n characters drawn uniformly from base62 by
// crypto/rand.
func randomBase62(n int) (string, error) {
	var b strings.Builder
	b.Grow(n)
	limit := big.NewInt(int64(len(base62)))
	for range n {
		i, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		b.WriteByte(base62[i.Int64()])
	}
	return b.String(), nil
}

// tokenPrefix marks generated service tokens, as Vault's "s." does.
const tokenPrefix = "s."

func newTokenID() (string, error) {
	s, err := randomBase62(24)
	if err != nil {
		return "", err
	}
	return tokenPrefix + s, nil
}

func newAccessor() (string, error) { return randomBase62(24) }

// validCustomID rejects IDs that could collide with generated service or
// batch tokens or that would be awkward in headers.
func validCustomID(id string) bool {
	if id == "" || len(id) > 128 || strings.HasPrefix(id, tokenPrefix) || IsBatch(id) {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return true
}

// normalizePolicies sorts and deduplicates policies, drops empty names, and
// adds "default" unless told not to or the set contains "root".
func normalizePolicies(in []string, addDefault bool) []string {
	out := make([]string, 0, len(in)+1)
	for _, p := range in {
		p = strings.ToLower(strings.TrimSpace(p))
		if p != "" {
			out = append(out, p)
		}
	}
	if addDefault && !slices.Contains(out, "root") {
		out = append(out, "default")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var displayNameSanitize = regexp.MustCompile(`[^a-zA-Z0-9-]`)

// displayName builds Vault's "token-<name>" from a requested name.
func displayName(prefix, name string) string {
	if name == "" {
		return prefix
	}
	full := displayNameSanitize.ReplaceAllString(prefix+"-"+name, "-")
	return strings.TrimRight(full, "-")
}
