package userpass

import (
	"net/netip"
	"slices"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// userEntry is one stored user. PasswordHash is a bcrypt hash; it is never
// returned by any route.
type userEntry struct {
	PasswordHash   string        `json:"password_hash"`
	Policies       []string      `json:"policies,omitempty"`
	TTL            time.Duration `json:"ttl,omitempty"`
	MaxTTL         time.Duration `json:"max_ttl,omitempty"`
	ExplicitMaxTTL time.Duration `json:"explicit_max_ttl,omitempty"`
	Period         time.Duration `json:"period,omitempty"`
	NumUses        int           `json:"num_uses,omitempty"`
	BoundCIDRs     []string      `json:"bound_cidrs,omitempty"`
}

// policyFields are the fields that set a user's policies; "policies" is
// Vault's older name for "token_policies".
func policyFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"token_policies": {Type: framework.TypeLowerStrings, Description: "Policies of tokens issued at login, as a list or a comma-separated string."},
		"policies":       {Type: framework.TypeLowerStrings, Description: "Deprecated name of token_policies."},
	}
}

// tokenFields are the token settings a user write accepts, with the policy
// fields.
func tokenFields() map[string]*framework.FieldSchema {
	f := policyFields()
	f["token_ttl"] = &framework.FieldSchema{Type: framework.TypeDurationSecond, Description: "TTL of tokens issued at login; 0 means the mount default."}
	f["token_max_ttl"] = &framework.FieldSchema{Type: framework.TypeDurationSecond, Description: "Longest a login token may live, renewals included; 0 means no limit beyond the mount's."}
	f["token_explicit_max_ttl"] = &framework.FieldSchema{Type: framework.TypeDurationSecond, Description: "Hard cap on a login token's life, renewals included."}
	f["token_period"] = &framework.FieldSchema{Type: framework.TypeDurationSecond, Description: "Makes login tokens periodic: each renewal extends them by this much."}
	f["token_num_uses"] = &framework.FieldSchema{Type: framework.TypeInt, Description: "Uses a login token has; 0 means unlimited."}
	f["token_no_default_policy"] = &framework.FieldSchema{Type: framework.TypeBool, Description: "Not supported yet: must be false."}
	f["token_bound_cidrs"] = &framework.FieldSchema{Type: framework.TypeStringSlice, Description: "Addresses or CIDR blocks a login must come from."}
	return f
}

// applyPolicies sets u's policies from whichever policy field the request
// set. It refuses both at once, since which should win is a guess, and the
// "root" policy, which would let a login mint a root token.
func applyPolicies(u *userEntry, d *framework.FieldData) error {
	tp, okTP := d.GetOk("token_policies")
	p, okP := d.GetOk("policies")
	switch {
	case okTP && okP:
		return logical.InvalidRequest(`set either "token_policies" or "policies" ("policies" is its deprecated name), not both`)
	case okP:
		tp = p
	case !okTP:
		return nil
	}
	policies := slices.Compact(slices.Sorted(slices.Values(tp.([]string))))
	if slices.Contains(policies, "root") {
		return logical.InvalidRequest(`the "root" policy cannot be given to a userpass user`)
	}
	u.Policies = policies
	return nil
}

// applyTokenFields sets the token settings present in the request; the
// others keep their values.
func applyTokenFields(u *userEntry, d *framework.FieldData) error {
	if err := applyPolicies(u, d); err != nil {
		return err
	}
	durations := map[string]*time.Duration{
		"token_ttl": &u.TTL, "token_max_ttl": &u.MaxTTL,
		"token_explicit_max_ttl": &u.ExplicitMaxTTL, "token_period": &u.Period,
	}
	for name, dst := range durations {
		if v, ok := d.GetOk(name); ok {
			*dst = v.(time.Duration)
		}
	}
	if v, ok := d.GetOk("token_num_uses"); ok {
		if v.(int) < 0 {
			return logical.InvalidRequest("token_num_uses must not be negative")
		}
		u.NumUses = v.(int)
	}
	if d.Bool("token_no_default_policy") {
		// logical.Auth cannot yet ask the token store to leave "default"
		// out; refusing beats issuing tokens that quietly carry it.
		return logical.InvalidRequest("token_no_default_policy is not supported yet: login tokens always carry the default policy")
	}
	if v, ok := d.GetOk("token_bound_cidrs"); ok {
		cidrs, err := parseCIDRs(v.([]string))
		if err != nil {
			return err
		}
		u.BoundCIDRs = cidrs
	}
	if u.MaxTTL > 0 && u.TTL > u.MaxTTL {
		return logical.InvalidRequest("token_ttl must not exceed token_max_ttl")
	}
	return nil
}

// parseCIDRs validates a list of CIDR blocks or single addresses and returns
// them as CIDR blocks; empty entries are dropped.
func parseCIDRs(in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, logical.InvalidRequest("token_bound_cidrs: %q is neither an IP address nor a CIDR block", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked().String())
	}
	return out, nil
}

// effectiveMaxTTL is the hard cap a login token gets: the smaller of the two
// limits that are set, since logical.Auth carries only one.
func (u *userEntry) effectiveMaxTTL() time.Duration {
	switch {
	case u.MaxTTL == 0:
		return u.ExplicitMaxTTL
	case u.ExplicitMaxTTL == 0:
		return u.MaxTTL
	}
	return min(u.MaxTTL, u.ExplicitMaxTTL)
}

// describe is the read view of u: everything but the password hash.
func (u *userEntry) describe() map[string]any {
	policies := u.Policies
	if policies == nil {
		policies = []string{}
	}
	cidrs := u.BoundCIDRs
	if cidrs == nil {
		cidrs = []string{}
	}
	return map[string]any{
		"token_policies":          policies,
		"policies":                policies,
		"token_ttl":               int64(u.TTL.Seconds()),
		"token_max_ttl":           int64(u.MaxTTL.Seconds()),
		"token_explicit_max_ttl":  int64(u.ExplicitMaxTTL.Seconds()),
		"token_period":            int64(u.Period.Seconds()),
		"token_num_uses":          u.NumUses,
		"token_no_default_policy": false,
		"token_bound_cidrs":       cidrs,
		"token_type":              "default",
	}
}
