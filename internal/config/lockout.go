package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// UserLockoutTypes are the labels a user_lockout block may carry: "all",
// or an auth method type user lockout applies to, as in Vault.
var UserLockoutTypes = []string{"all", "userpass", "approle", "ldap"}

// UserLockout is one user_lockout block. Settings it leaves out are zero
// (Disable nil) and inherit: a method type's block from the "all" block,
// the "all" block from the defaults (5 attempts, 15m, 15m).
type UserLockout struct {
	// Type is "all" or an auth method type, lower case.
	Type string
	// Threshold is the number of failed logins that locks an alias.
	Threshold uint64
	// Duration is how long a lock lasts.
	Duration time.Duration
	// CounterReset is how long without a failure resets the count.
	CounterReset time.Duration
	// Disable, when set, turns user lockout off (true) or on (false).
	Disable *bool
	Line    int
}

func (d *decoder) userLockout(s *Server, label string, pos token.Pos, body *ast.ObjectType) error {
	typ := strings.ToLower(label)
	if !slices.Contains(UserLockoutTypes, typ) {
		return d.errorf(pos, ErrUnknownKey, "unknown user_lockout type %q (supported: %s)", label, strings.Join(UserLockoutTypes, ", "))
	}
	for _, prev := range s.UserLockouts {
		if prev.Type == typ {
			return d.errorf(pos, ErrDuplicate, "only one user_lockout %q block is allowed (first on line %d)", typ, prev.Line)
		}
	}
	ul := UserLockout{Type: typ, Line: pos.Line}
	var disable bool
	fields := map[string]func(ast.Node) error{
		"lockout_threshold":     func(v ast.Node) error { return d.threshold(&ul.Threshold, v) },
		"lockout_duration":      d.durationInto(&ul.Duration, "lockout_duration"),
		"lockout_counter_reset": d.durationInto(&ul.CounterReset, "lockout_counter_reset"),
		"disable_lockout":       d.boolInto(&disable, "disable_lockout"),
	}
	seen, err := d.body(body, fmt.Sprintf("user_lockout %q", typ), fields)
	if err != nil {
		return err
	}
	if _, ok := seen["disable_lockout"]; ok {
		ul.Disable = &disable
	}
	s.UserLockouts = append(s.UserLockouts, ul)
	return nil
}

// threshold accepts a positive whole number, written as a number or a
// string as Vault's documentation does ("25").
func (d *decoder) threshold(dst *uint64, v ast.Node) error {
	const key = "lockout_threshold"
	val, _, err := d.literal(v, key, "a whole number of failed logins")
	if err != nil {
		return err
	}
	var n uint64
	var perr error
	switch x := val.(type) {
	case int64:
		if x < 0 {
			perr = strconv.ErrRange
		}
		n = uint64(x)
	case string:
		n, perr = strconv.ParseUint(strings.TrimSpace(x), 10, 32)
	default:
		perr = strconv.ErrSyntax
	}
	switch {
	case perr != nil || n > 1<<32-1:
		return d.errorf(v.Pos(), ErrInvalidValue, "%q must be a whole number of failed logins, such as 5", key)
	case n == 0:
		return d.errorf(v.Pos(), ErrInvalidValue, "%q must be at least 1; to turn user lockout off write disable_lockout = true", key)
	}
	*dst = n
	return nil
}
