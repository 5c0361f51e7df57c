package tokenutil

import (
	"fmt"
	"maps"
	"slices"

	"github.com/cofferhq/coffer/internal/framework"
)

// legacyNames are the older names Vault's auth methods accept for the token
// fields, before the "token_" prefix.
var legacyNames = map[string][]string{
	"token_ttl":         {"ttl"},
	"token_max_ttl":     {"max_ttl"},
	"token_period":      {"period"},
	"token_policies":    {"policies"},
	"token_bound_cidrs": {"bound_cidrs"},
	"token_num_uses":    {"num_uses"},
}

// LegacyNames returns a fresh map from each token field to the older names
// it is accepted under: ttl, max_ttl, period, policies, bound_cidrs and
// num_uses. A caller whose route uses one of those names for something else
// deletes it from the map before passing it to FieldsWithLegacy.
func LegacyNames() map[string][]string {
	out := make(map[string][]string, len(legacyNames))
	for k, v := range legacyNames {
		out[k] = slices.Clone(v)
	}
	return out
}

// Fields returns fresh schemas of the token fields, each accepting its
// older name as an alias (see LegacyNames). Add them to a role's or user's
// route, then read them with Params.Parse.
func Fields() map[string]*framework.FieldSchema {
	return FieldsWithLegacy(legacyNames)
}

// FieldsWithLegacy is Fields with the given older names (field name →
// aliases) instead of LegacyNames; nil gives no aliases.
func FieldsWithLegacy(legacy map[string][]string) map[string]*framework.FieldSchema {
	f := map[string]*framework.FieldSchema{
		"token_policies": {Type: framework.TypeLowerStrings,
			Description: "Policies of the tokens issued, as a list or a comma-separated string."},
		"token_ttl": {Type: framework.TypeDurationSecond,
			Description: "Initial TTL of the tokens issued; 0 means the mount's default."},
		"token_max_ttl": {Type: framework.TypeDurationSecond,
			Description: "Longest an issued token may live, renewals included; 0 means the mount's maximum."},
		"token_explicit_max_ttl": {Type: framework.TypeDurationSecond,
			Description: "Hard cap on an issued token's life, renewals included, whatever the mount says."},
		"token_period": {Type: framework.TypeDurationSecond,
			Description: "Makes the tokens periodic: each renewal extends them by this much, without a maximum."},
		"token_num_uses": {Type: framework.TypeInt,
			Description: "Uses an issued token has; 0 means unlimited."},
		"token_bound_cidrs": {Type: framework.TypeStringSlice,
			Description: "IP addresses or CIDR blocks the issued tokens may be used from."},
		"token_no_default_policy": {Type: framework.TypeBool,
			Description: `Leave the "default" policy off the tokens issued.`},
		"token_type": {Type: framework.TypeString,
			Description: "Type of the tokens issued: service, batch, default-service or default-batch."},
	}
	for name, aliases := range legacy {
		s, ok := f[name]
		if !ok {
			panic(fmt.Sprintf("tokenutil: %q is not a token field", name))
		}
		s.Aliases = slices.Clone(aliases)
	}
	return f
}

// AddFields adds the token fields with their older names (Fields) to a
// route's fields. It panics when a name is already taken, which is a bug in
// the auth method.
func AddFields(m map[string]*framework.FieldSchema) {
	f := Fields()
	taken := func(name string) bool {
		if _, ok := m[name]; ok {
			return true
		}
		for _, s := range m {
			if slices.Contains(s.Aliases, name) {
				return true
			}
		}
		return false
	}
	for _, name := range slices.Sorted(maps.Keys(f)) {
		for _, n := range append([]string{name}, f[name].Aliases...) {
			if taken(n) {
				panic(fmt.Sprintf("tokenutil: adding token fields would overwrite %q", n))
			}
		}
		m[name] = f[name]
	}
}
