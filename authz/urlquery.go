package authz

import (
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// queryPairs is a query string read and written the way a browser's
// URLSearchParams (which the SDK uses to build redirects) reads and writes
// it: pairs in order, "+" as a space, invalid escapes kept as they are,
// bytes that are not UTF-8 read as U+FFFD, and written back in
// application/x-www-form-urlencoded form. Go's url.Values would sort the
// keys and escape "*" and "~" differently.
type queryPairs [][2]string

func parseQueryLikeJS(raw string) queryPairs {
	var q queryPairs
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		q = append(q, [2]string{formUnescape(k), formUnescape(v)})
	}
	return q
}

func (q queryPairs) get(k string) string {
	for _, p := range q {
		if p[0] == k {
			return p[1]
		}
	}
	return ""
}

// has is URLSearchParams.has: a pair named k, whatever its value.
func (q queryPairs) has(k string) bool {
	for _, p := range q {
		if p[0] == k {
			return true
		}
	}
	return false
}

// set is URLSearchParams.set: the first pair named k takes v and the other
// pairs of that name go; without one, the pair is appended.
func (q queryPairs) set(k, v string) queryPairs {
	out, found := q[:0], false
	for _, p := range q {
		if p[0] != k {
			out = append(out, p)
		} else if !found {
			out, found = append(out, [2]string{k, v}), true
		}
	}
	if !found {
		out = append(out, [2]string{k, v})
	}
	return out
}

func (q queryPairs) add(k, v string) queryPairs { return append(q, [2]string{k, v}) }

// without is URLSearchParams.delete of each name.
func (q queryPairs) without(names ...string) queryPairs {
	out := q[:0]
	for _, p := range q {
		if !slices.Contains(names, p[0]) {
			out = append(out, p)
		}
	}
	return out
}

func (q queryPairs) encode() string {
	var b strings.Builder
	for i, p := range q {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(formEscape(p[0]))
		b.WriteByte('=')
		b.WriteString(formEscape(p[1]))
	}
	return b.String()
}

// formEscape is the URL standard's form-urlencoded byte serializer:
// ASCII letters, digits and *-._ stay, a space is "+", every other byte
// is %XX.
func formEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '*', c == '-', c == '.', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// formUnescape decodes "+" and valid %XX escapes, keeps the rest, and
// reads the bytes as UTF-8 as URLSearchParams does (decodeUTF8LikeWeb).
func formUnescape(s string) string {
	if !strings.ContainsAny(s, "+%") && utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && redirectUnhex(s[i+1]) >= 0 && redirectUnhex(s[i+2]) >= 0:
			hi, lo := redirectUnhex(s[i+1]), redirectUnhex(s[i+2]) // each 0–15
			b = append(b, byte(hi<<4|lo))                          //nolint:gosec // two hex digits fit a byte
			i += 2
		default:
			b = append(b, c)
		}
	}
	if !utf8.Valid(b) {
		b = decodeUTF8LikeWeb(b)
	}
	return string(b)
}

// decodeUTF8LikeWeb is the Encoding standard's UTF-8 decoder, which
// URLSearchParams reads a query with after percent-decoding it: each
// maximal subpart of an ill-formed sequence (a byte that cannot start a
// sequence, or a lead byte and the continuation bytes that can still
// follow it) becomes one U+FFFD, and the byte that broke the sequence is
// read again. Go's strings.ToValidUTF8 makes one U+FFFD of a whole run
// ("\xE2\x82\xE2\x82" is two here, one there), and utf8.DecodeRune one per
// byte of a truncated sequence ("\xE2\x82" is one here, two there).
func decodeUTF8LikeWeb(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			out = append(out, c)
			i++
			continue
		}
		// need is how many continuation bytes follow c, and lo–hi the range
		// of the first: narrower after E0 and F0 (no overlong forms), ED
		// (no surrogates) and F4 (nothing above U+10FFFF). C0, C1 and F5–FF
		// start nothing.
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case 0xC2 <= c && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c == 0xED:
			need, hi = 2, 0x9F
		case 0xE1 <= c && c <= 0xEF:
			need = 2
		case c == 0xF0:
			need, lo = 3, 0x90
		case c == 0xF4:
			need, hi = 3, 0x8F
		case 0xF1 <= c && c <= 0xF3:
			need = 3
		}
		n := 1 // the lead byte and the continuation bytes taken after it
		for n <= need && i+n < len(b) && lo <= b[i+n] && b[i+n] <= hi {
			lo, hi = 0x80, 0xBF
			n++
		}
		if need > 0 && n == need+1 {
			out = append(out, b[i:i+n]...)
		} else {
			out = append(out, "\uFFFD"...)
		}
		i += n
	}
	return out
}

// withQuery returns u with its query rewritten by edit, as the SDK's
// "new URL(u); u.searchParams.…" does; a URL that does not parse is
// returned as it is.
func withQuery(raw string, edit func(queryPairs) queryPairs) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery = edit(parseQueryLikeJS(u.RawQuery)).encode()
	u.ForceQuery = false
	return u.String()
}

// appendQueryParam is URLSearchParams.append on an absolute URL.
func appendQueryParam(raw, k, v string) string {
	return withQuery(raw, func(q queryPairs) queryPairs { return q.add(k, v) })
}

// webPathname is the URL standard's pathname, which the SDK matches: the
// path as sent, with only the bytes of the standard's path percent-encode
// set escaped. Go's EscapedPath escapes more ("|" and "^" too) once a path
// holds a byte that needs escaping, and parameters would read differently.
func webPathname(u *url.URL) string {
	p := u.RawPath // the path as sent when it differs from Go's own escaping
	if p == "" {
		p = u.EscapedPath()
	}
	if p == "" {
		return "/" // an http(s) URL's pathname is never empty
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>`{}#?", c) >= 0 {
			if b.Len() == 0 {
				b.Grow(len(p) + 8)
				b.WriteString(p[:i])
			}
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return p
	}
	return b.String()
}

// webHref is an http(s) URL as the SDK's URL object writes it (href): the
// WHATWG origin (host lower-cased, default port dropped), webPathname, and
// the query as received. Redirects the SDK builds from the request's URL
// are compared byte for byte with ours.
func webHref(u *url.URL) string {
	h := webOrigin(u) + webPathname(u)
	if u.RawQuery != "" {
		h += "?" + u.RawQuery
	}
	return h
}
