package policy

import (
	"strings"

	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Names of the built-in policies.
const (
	// RootName is the policy that grants everything, sudo included. It has
	// no text: Parse refuses it, and it can be neither written nor deleted.
	RootName = "root"
	// DefaultName is the policy attached to tokens by default. It may be
	// rewritten but not deleted.
	DefaultName = "default"
	// ResponseWrappingName is the only policy of response-wrapping tokens
	// (ResponseWrappingPolicy). It can be neither written nor deleted, and
	// no other token may be given it.
	ResponseWrappingName = "response-wrapping"
)

// Policy is one parsed ACL policy. A Policy is immutable after Parse and
// safe for concurrent use.
type Policy struct {
	// Name is the lower-cased policy name.
	Name string
	// Raw is the text the policy was parsed from; empty for root.
	Raw string
	// Paths holds one rule per `path` block, in the order written.
	Paths []PathRule

	root bool
	// templated is set when a pattern has template directives (see
	// template.go); such a policy must be resolved per entity.
	templated bool
}

// PathRule is one `path "pattern" { ... }` block.
type PathRule struct {
	// Pattern is the path as written, without a leading slash. A trailing
	// "*" makes it a prefix glob; a "+" segment matches exactly one segment.
	// It may hold template directives ({{identity.entity.id}}); see
	// Policy.Resolve.
	Pattern string
	// Capabilities are the sorted capability names granted (legacy `policy`
	// shorthand already expanded). When deny is present it is the only one.
	Capabilities []string
	// AllowedParameters maps a lower-cased request parameter to the values
	// it may take; an empty list means any value, and the key "*" allows
	// parameters not listed. Every element of a request's value must be
	// allowed; values compare as ACL.AllowedParams describes.
	AllowedParameters map[string][]any
	// DeniedParameters maps a lower-cased request parameter to forbidden
	// values; an empty list forbids the parameter whatever its value, and
	// the key "*" forbids every parameter. One forbidden element refuses.
	DeniedParameters map[string][]any
	// RequiredParameters must all be present in the request data.
	RequiredParameters []string
	// MinWrappingTTL and MaxWrappingTTL bound the response wrapping a
	// request matched by the rule must ask for (see Result.WrapTTLAllowed):
	// with a maximum, an unwrapped request is refused.
	MinWrappingTTL time.Duration
	MaxWrappingTTL time.Duration
	// Line is where the block starts in Raw, for messages.
	Line int

	caps capSet
	// templated is set when Pattern has template directives; Resolve
	// replaces them (or drops the rule) before the rule reaches an ACL.
	templated bool
}

// Root returns the built-in root policy. An ACL built from it allows every
// operation on every path and reports sudo.
func Root() *Policy {
	return &Policy{Name: RootName, root: true}
}

// IsRoot reports whether p is the built-in root policy.
func (p *Policy) IsRoot() bool { return p != nil && p.root }

// NormalizeName returns the canonical form of a policy name: trimmed and
// lower-cased, as Vault stores names. It returns ErrEmptyName when nothing
// is left.
func NormalizeName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return "", ErrEmptyName
	}
	return n, nil
}

// CanonicalName accepts a policy name as it arrives in a request path only
// if it is already in canonical form. Rewriting it after authorisation
// ("ADMIN" or "admin " to "admin") would let a request reach a policy the
// caller's ACL denies by respelling its name, so anything else is a 400.
func CanonicalName(name string) (string, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return "", err
	}
	if n != name || strings.Contains(n, "/") {
		return "", logical.InvalidRequest("policy name %q must be lower case, without surrounding spaces or '/' (for example %q)",
			name, strings.ReplaceAll(n, "/", "-"))
	}
	return n, nil
}

// CheckWrite returns ErrRootPolicy when name (in any case) is the root
// policy and ErrResponseWrappingPolicy for response-wrapping, which cannot
// be written; nil otherwise.
func CheckWrite(name string) error {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case RootName:
		return ErrRootPolicy
	case ResponseWrappingName:
		return ErrResponseWrappingPolicy
	}
	return nil
}

// CheckDelete returns ErrRootPolicy for root, ErrDefaultPolicyDelete for
// default and ErrResponseWrappingPolicy for response-wrapping (in any
// case), nil for every other name.
func CheckDelete(name string) error {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case RootName:
		return ErrRootPolicy
	case DefaultName:
		return ErrDefaultPolicyDelete
	case ResponseWrappingName:
		return ErrResponseWrappingPolicy
	}
	return nil
}

// DefaultPolicy is the text of the built-in "default" policy: what every
// token may do to itself, and no more. It deliberately grants nothing on
// any secrets engine.
const DefaultPolicy = `# Allow tokens to look up their own properties.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Allow tokens to renew themselves.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# Allow tokens to revoke themselves.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Allow the UI to list the mounts this token can see.
path "sys/internal/ui/mounts" {
  capabilities = ["read"]
}

path "sys/internal/ui/mounts/*" {
  capabilities = ["read"]
}

# Allow a token to look up and renew the leases it holds. The lease manager
# checks that the lease belongs to the caller.
path "sys/leases/lookup" {
  capabilities = ["update"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

path "sys/renew" {
  capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole.
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token, to
# look up a wrapping token's creation time, TTL and path, and to unwrap one.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Allow general-purpose hashing, which reveals nothing stored.
path "sys/tools/hash" {
  capabilities = ["update"]
}

path "sys/tools/hash/*" {
  capabilities = ["update"]
}
`

// ResponseWrappingPolicy is the text of the built-in "response-wrapping"
// policy, the only one of a response-wrapping token: it may unwrap itself
// and read its own wrapped response. It grants no write of its cubbyhole,
// so whatever a wrapping token unwraps was put there by the server.
const ResponseWrappingPolicy = `path "cubbyhole/response" {
  capabilities = ["read"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
`
