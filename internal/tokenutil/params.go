package tokenutil

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// The values of token_type. Empty (never set) reads back as TypeDefault.
const (
	TypeService        = "service"
	TypeBatch          = "batch"
	TypeDefault        = "default"
	TypeDefaultService = "default-service"
	TypeDefaultBatch   = "default-batch"
)

// Params are the token settings of one role or user. Embed it in the
// stored entry: its JSON keys (the names Coffer's userpass has always
// stored) are part of the storage format. The zero value means Vault's
// defaults: no policies but "default", the mount's TTLs, unlimited uses, a
// service token. Not safe for concurrent mutation.
type Params struct {
	Policies        []string      `json:"policies,omitempty"`
	TTL             time.Duration `json:"ttl,omitempty"`
	MaxTTL          time.Duration `json:"max_ttl,omitempty"`
	ExplicitMaxTTL  time.Duration `json:"explicit_max_ttl,omitempty"`
	Period          time.Duration `json:"period,omitempty"`
	NumUses         int           `json:"num_uses,omitempty"`
	BoundCIDRs      []string      `json:"bound_cidrs,omitempty"`
	NoDefaultPolicy bool          `json:"no_default_policy,omitempty"`
	// Type is token_type as written; empty means TypeDefault.
	Type string `json:"token_type,omitempty"`
	// Legacy maps a token field to the older name it was last written
	// under, so that a read reports it under that name too, as Vault does.
	Legacy map[string]string `json:"legacy_names,omitempty"`
}

// Parse applies the token fields the request set to p; fields it did not
// set keep their values. It validates the result as a whole and leaves p
// untouched on error, which is always a 400-class error saying what to fix.
// d comes from a route with the token fields (Fields) or some of them (a
// route that sets only token_policies, say).
func (p *Params) Parse(d *framework.FieldData) error {
	q := *p
	q.Legacy = maps.Clone(p.Legacy)
	if v, ok := getOk(d, "token_policies"); ok {
		q.Policies = slices.Compact(slices.Sorted(slices.Values(v.([]string))))
		if slices.Contains(q.Policies, "root") {
			return ErrRootPolicy
		}
		if slices.Contains(q.Policies, "response-wrapping") {
			return ErrWrappingPolicy
		}
	}
	durations := map[string]*time.Duration{
		"token_ttl": &q.TTL, "token_max_ttl": &q.MaxTTL,
		"token_explicit_max_ttl": &q.ExplicitMaxTTL, "token_period": &q.Period,
	}
	for name, dst := range durations {
		if v, ok := getOk(d, name); ok {
			*dst = v.(time.Duration)
		}
	}
	if v, ok := getOk(d, "token_num_uses"); ok {
		q.NumUses = v.(int)
	}
	if v, ok := getOk(d, "token_bound_cidrs"); ok {
		cidrs, err := ParseCIDRs(v.([]string))
		if err != nil {
			return err
		}
		q.BoundCIDRs = cidrs
	}
	if v, ok := getOk(d, "token_no_default_policy"); ok {
		q.NoDefaultPolicy = v.(bool)
	}
	if v, ok := getOk(d, "token_type"); ok {
		q.Type = v.(string)
	}
	q.noteLegacy(d)
	if err := q.validate(); err != nil {
		return err
	}
	*p = q
	return nil
}

// getOk is FieldData.GetOk for a field the route may not declare.
func getOk(d *framework.FieldData, name string) (any, bool) {
	if !d.Declared(name) {
		return nil, false
	}
	return d.GetOk(name)
}

// fieldNames are the names of the token fields.
var fieldNames = []string{
	"token_policies", "token_ttl", "token_max_ttl", "token_explicit_max_ttl", "token_period",
	"token_num_uses", "token_bound_cidrs", "token_no_default_policy", "token_type",
}

// noteLegacy records which fields the request set under an older name and
// forgets it for those it set under the current one.
func (p *Params) noteLegacy(d *framework.FieldData) {
	for _, name := range fieldNames {
		if !d.Declared(name) {
			continue
		}
		switch as := d.SetAs(name); as {
		case "":
		case name:
			delete(p.Legacy, name)
		default:
			if p.Legacy == nil {
				p.Legacy = map[string]string{}
			}
			p.Legacy[name] = as
		}
	}
	if len(p.Legacy) == 0 {
		p.Legacy = nil
	}
}

// validate checks the settings together, with Vault's rules.
func (p *Params) validate() error {
	switch {
	case p.NumUses < 0:
		return ErrNegativeUses
	case p.MaxTTL > 0 && p.TTL > p.MaxTTL:
		return ErrTTLOverMax
	}
	switch p.Type {
	case "", TypeDefault, TypeService, TypeDefaultService:
		return nil
	case TypeBatch, TypeDefaultBatch:
	default:
		return logical.InvalidRequest("invalid token_type %q: use service, batch, default-service or default-batch", p.Type)
	}
	switch {
	case p.Period != 0:
		return logical.InvalidRequest(`token_type cannot be "batch" or "default-batch" for periodic tokens (token_period is set)`)
	case p.NumUses != 0:
		return logical.InvalidRequest(`token_type cannot be "batch" or "default-batch" for tokens with a use limit (token_num_uses is set)`)
	}
	return nil
}

// ParseCIDRs validates IP addresses and CIDR blocks and returns them as
// masked CIDR blocks ("10.1.2.3/8" → "10.0.0.0/8", "::1" → "::1/128");
// empty entries are dropped. An invalid entry is a 400-class error naming it.
func ParseCIDRs(in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		if s == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, logical.InvalidRequest("token_bound_cidrs: %q is neither an IP address nor a CIDR block", s)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, pfx.Masked().String())
	}
	return out, nil
}

// IssuedType is the type of token a login gets: TypeBatch for batch and
// default-batch, TypeService otherwise. (Coffer has no per-mount token type
// yet, so the "default-" forms mean their own kind.)
func (p *Params) IssuedType() string {
	if p.Type == TypeBatch || p.Type == TypeDefaultBatch {
		return TypeBatch
	}
	return TypeService
}

// effectiveMaxTTL is the hard cap a token gets: the smaller of the limits
// that are set, since a token carries only one.
func (p *Params) effectiveMaxTTL() time.Duration {
	switch {
	case p.MaxTTL == 0:
		return p.ExplicitMaxTTL
	case p.ExplicitMaxTTL == 0:
		return p.MaxTTL
	}
	return min(p.MaxTTL, p.ExplicitMaxTTL)
}

// Apply sets the token settings on the Auth a login returns: policies,
// TTL (zero leaves the mount's default to the core), maximum TTL, period,
// use limit, bound CIDRs, the default-policy choice and the token type; the
// token is renewable. Slices are copied, so a cached Params stays intact.
func (p *Params) Apply(a *logical.Auth) {
	a.Policies = slices.Clone(p.Policies)
	a.NoDefaultPolicy = p.NoDefaultPolicy
	a.LeaseDuration = p.TTL
	a.ExplicitMaxTTL = p.effectiveMaxTTL()
	a.Period = p.Period
	a.NumUses = p.NumUses
	a.BoundCIDRs = slices.Clone(p.BoundCIDRs)
	a.TokenType = p.IssuedType()
	a.Renewable = true
}

// ApplyRenewal sets on a, the token being renewed, the lifetime p gives a
// token now: its period and hard cap. Auth methods call it from their
// AuthRenew hook so that a renewal follows the role as it is now, as
// Vault's do: a role whose token_period was removed or whose max TTL was
// lowered stops its earlier tokens from renewing past the new limits.
func (p *Params) ApplyRenewal(a *logical.Auth) {
	a.Period = p.Period
	a.ExplicitMaxTTL = p.effectiveMaxTTL()
}

// Describe adds the read view of p to m, as Vault reports it: durations in
// whole seconds, empty lists as [] rather than null, token_type "default"
// when never set, and each field last written under an older name also
// under that name.
func (p *Params) Describe(m map[string]any) {
	policies, cidrs := p.Policies, p.BoundCIDRs
	if policies == nil {
		policies = []string{}
	}
	if cidrs == nil {
		cidrs = []string{}
	}
	typ := p.Type
	if typ == "" {
		typ = TypeDefault
	}
	m["token_policies"] = policies
	m["token_ttl"] = int64(p.TTL.Seconds())
	m["token_max_ttl"] = int64(p.MaxTTL.Seconds())
	m["token_explicit_max_ttl"] = int64(p.ExplicitMaxTTL.Seconds())
	m["token_period"] = int64(p.Period.Seconds())
	m["token_num_uses"] = p.NumUses
	m["token_bound_cidrs"] = cidrs
	m["token_no_default_policy"] = p.NoDefaultPolicy
	m["token_type"] = typ
	for name, old := range p.Legacy {
		if v, ok := m[name]; ok {
			m[old] = v
		}
	}
}
