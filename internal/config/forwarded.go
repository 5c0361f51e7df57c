package config

import (
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// ForwardedFor is a tcp listener's X-Forwarded-For settings, with Vault's
// names and defaults. The zero value trusts no proxy: the client address is
// always the connecting peer's.
type ForwardedFor struct {
	// AuthorizedAddrs (x_forwarded_for_authorized_addrs) are the proxies,
	// as CIDR blocks, whose X-Forwarded-For header is believed. Empty turns
	// the feature off.
	AuthorizedAddrs []netip.Prefix
	// HopSkips (x_forwarded_for_hop_skips) is how many addresses to skip
	// from the end of the header's chain: 0 takes the last, the client the
	// trusted proxy saw.
	HopSkips int64
	// RejectNotAuthorized (x_forwarded_for_reject_not_authorized) answers
	// 400 to a request that carries the header from a peer that is not
	// authorised, instead of ignoring the header. False by default, as in
	// Vault's code (its documentation says true).
	RejectNotAuthorized bool
	// RejectNotPresent (x_forwarded_for_reject_not_present) answers 400 to
	// a request without the header, instead of using the peer's address.
	// False by default, as in Vault's code.
	RejectNotPresent bool
}

// Enabled reports whether the listener looks at X-Forwarded-For at all.
func (f ForwardedFor) Enabled() bool { return len(f.AuthorizedAddrs) > 0 }

// The listener keys of ForwardedFor.
const (
	keyXFFAddrs            = "x_forwarded_for_authorized_addrs"
	keyXFFHopSkips         = "x_forwarded_for_hop_skips"
	keyXFFRejectNotAuthz   = "x_forwarded_for_reject_not_authorized"
	keyXFFRejectNotPresent = "x_forwarded_for_reject_not_present"
)

// forwardedForFields are the listener keys that fill f.
func (d *decoder) forwardedForFields(f *ForwardedFor) map[string]func(ast.Node) error {
	return map[string]func(ast.Node) error{
		keyXFFAddrs: func(v ast.Node) error { return d.addrsInto(&f.AuthorizedAddrs, keyXFFAddrs, v) },
		keyXFFHopSkips: func(v ast.Node) error {
			if err := d.intInto(&f.HopSkips, keyXFFHopSkips)(v); err != nil {
				return err
			}
			if f.HopSkips < 0 {
				return d.errorf(v.Pos(), ErrInvalidValue, "%q cannot be negative, got %d", keyXFFHopSkips, f.HopSkips)
			}
			return nil
		},
		keyXFFRejectNotAuthz:   d.boolInto(&f.RejectNotAuthorized, keyXFFRejectNotAuthz),
		keyXFFRejectNotPresent: d.boolInto(&f.RejectNotPresent, keyXFFRejectNotPresent),
	}
}

// checkForwardedFor refuses settings that would silently do nothing: the
// other x_forwarded_for_* keys act only when authorized addresses are set,
// as in Vault, and an operator who wrote them expects them to act.
func (d *decoder) checkForwardedFor(f ForwardedFor, seen map[string]token.Pos) error {
	if f.Enabled() {
		return nil
	}
	for _, k := range []struct {
		key string
		on  bool
	}{{keyXFFHopSkips, f.HopSkips > 0}, {keyXFFRejectNotAuthz, f.RejectNotAuthorized}, {keyXFFRejectNotPresent, f.RejectNotPresent}} {
		if k.on {
			return d.errorf(seen[k.key], ErrInvalidValue,
				"%q has no effect without %s: list the proxies to trust there, or remove it", k.key, keyXFFAddrs)
		}
	}
	return nil
}

// addrsInto reads IP addresses or CIDR blocks, as a list of strings or one
// comma-separated string (both as in Vault).
func (d *decoder) addrsInto(dst *[]netip.Prefix, key string, v ast.Node) error {
	var items []string
	var positions []token.Pos
	if list, ok := v.(*ast.ListType); ok {
		for _, n := range list.List {
			var s string
			if err := d.stringInto(&s, key)(n); err != nil {
				return err
			}
			items, positions = append(items, s), append(positions, n.Pos())
		}
	} else {
		var s string
		if err := d.stringInto(&s, key)(v); err != nil {
			return d.errorf(v.Pos(), ErrInvalidValue, "%q must be a list of IP addresses or CIDR blocks, or one comma-separated string", key)
		}
		for _, part := range strings.Split(s, ",") {
			items, positions = append(items, part), append(positions, v.Pos())
		}
	}
	var out []netip.Prefix
	for i, s := range items {
		p, ok := parsePrefix(strings.TrimSpace(s))
		if !ok {
			return d.errorf(positions[i], ErrInvalidValue, "%q: %q is not an IP address or CIDR block (such as 10.0.0.5 or 10.0.0.0/24)", key, strings.TrimSpace(s))
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return d.errorf(v.Pos(), ErrInvalidValue, "%q needs at least one address; remove it to trust no proxy", key)
	}
	*dst = out
	return nil
}

// parsePrefix reads "10.0.0.5" (one host) or "10.0.0.0/24", in canonical
// form: IPv4-mapped addresses are unmapped and host bits cleared.
func parsePrefix(s string) (netip.Prefix, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}
