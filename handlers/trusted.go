package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads TRUSTED_PROXIES: a comma-separated list of
// CIDRs (a bare address means that one host). An empty string is nil:
// every caller is accepted.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := parsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q holds no CIDR", s)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR such as 10.0.0.0/8 or fd00::/8")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("not a CIDR such as 10.0.0.0/8 or an IP address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// peerTrusted reports whether the TCP peer (r.RemoteAddr, never a header:
// X-Forwarded-For is the client's word until a trusted proxy vouches for
// it) lies in one of the prefixes. IPv4-mapped IPv6 peers count as IPv4.
func peerTrusted(trusted []netip.Prefix, remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap().WithZone("")
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// requireTrustedProxy refuses callers outside trusted with 403: the header
// families the auth endpoints read are only meaningful when a proxy we
// trust wrote them (docs/known-attacks.md O1, O2). With no prefixes it is a no-op,
// the default; main warns about it at start-up.
func requireTrustedProxy(trusted []netip.Prefix, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if len(trusted) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !peerTrusted(trusted, r.RemoteAddr) {
				log.Warn("untrusted proxy refused", "remote_addr", r.RemoteAddr, "path", r.URL.Path)
				w.Header().Set("Cache-Control", "no-store")
				writeJSON(w, http.StatusForbidden, "forbidden", "untrusted-proxy")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
