package validate

import (
	"net/netip"
	"net/url"
	"strings"
)

// nonPublic are the special-purpose ranges of the IANA registries (RFC 6890 and its updates)
// that no service on the public internet answers on, beyond what netip.Addr's own predicates
// name (loopback, RFC 1918 and fc00::/7, link-local, multicast, unspecified).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1)
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation (TEST-NET-3)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated, still routed inside sites)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64 prefix (RFC 6052)
	sixToFour = netip.MustParsePrefix("2002::/16")    // 6to4 (RFC 3056)
)

// PublicAddr reports whether a is an address of the public internet: not loopback, private,
// link-local, multicast, unspecified or any other special-purpose range. IPv4 addresses carried
// in IPv6 (mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by the IPv4 address inside.
// Outgoing requests whose target a client chooses (webhooks) connect only to such addresses.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return PublicAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(a):
			return PublicAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// WebhookURL checks that s is an http or https URL of at most 2000 bytes with a host. Unless
// private is true, a host that names this machine (localhost) or is an address outside the
// public internet is refused too: the platform, not the client, would send the requests. A host
// name is only checked as written; the sender checks the addresses it resolves to when it
// connects (see notify.WebhookConfig).
func (e *Errors) WebhookURL(field, s string, private bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || len(s) > 2000 {
		e.Add(field, "must be an http or https URL")
		return
	}
	if private {
		return
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		e.Add(field, "must point at a public address, not this machine")
		return
	}
	if a, err := netip.ParseAddr(host); err == nil && !PublicAddr(a) {
		e.Add(field, "must point at a public address: %s is a private or reserved one", a)
	}
}
