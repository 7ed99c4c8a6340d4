// Package netguard refuses outgoing connections to internal addresses (loopback, private,
// link-local, reserved ranges). It checks the address each connection is about to dial, in
// net.Dialer.Control, so every redirect and every DNS answer (also one that changes between
// lookups: DNS rebinding) is covered. URL imports and webhook deliveries use it.
package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// blockedPrefixes are internal ranges net/netip has no predicate for.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("::ffff:0:0/96"),  // IPv4-mapped (checked unmapped too)
	netip.MustParsePrefix("2002::/16"),      // 6to4 may embed any IPv4 address
	netip.MustParsePrefix("2001::/32"),      // Teredo, likewise
	netip.MustParsePrefix("169.254.0.0/16"), // link-local (also by IsLinkLocalUnicast)
	netip.MustParsePrefix("192.88.99.0/24"), // 6to4 relay anycast
	netip.MustParsePrefix("255.255.255.255/32"),
}

// Problem says why ip may not be dialed ("" when it may). allowLoopback lets 127.0.0.0/8 and
// ::1 through (tests); everything else internal stays refused.
func Problem(ip netip.Addr, allowLoopback bool) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "not an IP address"
	case ip.IsLoopback():
		if allowLoopback {
			return ""
		}
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return "reserved"
		}
	}
	return ""
}

// Control is a net.Dialer.Control function that refuses, before the connection is made, every
// address Problem objects to. Its errors wrap notAllowed (the caller's sentinel).
func Control(allowLoopback bool, notAllowed error) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", notAllowed, address)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: %s", notAllowed, host)
		}
		if why := Problem(ip, allowLoopback); why != "" {
			return fmt.Errorf("%w: %s is %s", notAllowed, ip.Unmap(), why)
		}
		return nil
	}
}
