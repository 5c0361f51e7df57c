package logical

import "net/netip"

// AddrInCIDRs reports whether remote, a "host:port" or a bare address, lies
// in one of cidrs (CIDR blocks such as "10.0.0.0/8"). Every address is in an
// empty list; none is when remote does not parse, so a request whose origin
// cannot be told is refused by a non-empty list.
func AddrInCIDRs(cidrs []string, remote string) bool {
	if len(cidrs) == 0 {
		return true
	}
	var addr netip.Addr
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		addr = ap.Addr()
	} else if a, err := netip.ParseAddr(remote); err == nil {
		addr = a
	} else {
		return false
	}
	addr = addr.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}
