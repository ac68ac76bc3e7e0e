package authz

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrAmbiguousPath is wrapped by NormalizePath's errors.
var ErrAmbiguousPath = errors.New("ambiguous request path")

// NormalizePath checks the original request's path as sent (still
// percent-encoded, without the query) and returns it decoded. Policy is
// matched on that decoded path, so any spelling that a proxy, the policy
// and the upstream application could read differently is refused rather
// than guessed at (the bypasses in docs/known-attacks.md O4, P1, L2, X2):
//
//   - encoded separators and dots: %2F, %5C, %2E (so %2e%2e), %3B, %3F,
//     %23, and double encoding (%25 followed by two hex digits);
//   - dot segments ("." and ".."), empty segments ("//"), backslashes and
//     ";" path parameters;
//   - bad escapes, control characters and invalid UTF-8.
//
// Adapters call it when building the Request and answer 400 on error.
func NormalizePath(raw string) (string, error) {
	if !strings.HasPrefix(raw, "/") {
		return "", ambiguous("does not start with /")
	}
	if strings.IndexByte(raw, '%') < 0 {
		// The common case: nothing to decode.
		if err := checkDecodedPath(raw); err != nil {
			return "", err
		}
		return raw, nil
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(raw) || !pathIsHex(raw[i+1]) || !pathIsHex(raw[i+2]) {
			return "", ambiguous("has a malformed percent escape")
		}
		d := pathHexValue(raw[i+1])<<4 | pathHexValue(raw[i+2])
		switch d {
		case '/', '\\', '.', ';', '?', '#':
			return "", ambiguous("encodes a path delimiter or dot (" + raw[i:i+3] + ")")
		case '%':
			if i+4 < len(raw) && pathIsHex(raw[i+3]) && pathIsHex(raw[i+4]) {
				return "", ambiguous("is percent-encoded twice (" + raw[i:i+5] + ")")
			}
		}
		b.WriteByte(d)
		i += 2
	}
	p := b.String()
	if err := checkDecodedPath(p); err != nil {
		return "", err
	}
	return p, nil
}

func checkDecodedPath(p string) error {
	if err := checkPathCharacters(p); err != nil {
		return err
	}
	// Segment by segment with Cut: no slice to allocate per request.
	for rest, more := p[1:], true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		switch seg {
		case ".", "..":
			return ambiguous("has a dot segment")
		case "":
			if more { // a trailing slash is fine; "//" is not
				return ambiguous("has an empty segment (//)")
			}
		}
	}
	return nil
}

// checkPathCharacters refuses the bytes a decoded path may not hold.
func checkPathCharacters(p string) error {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f:
			return ambiguous("has a control character")
		case c == '\\':
			return ambiguous("has a backslash")
		case c == ';':
			return ambiguous("has a ; path parameter")
		}
	}
	if !utf8.ValidString(p) {
		return ambiguous("is not valid UTF-8")
	}
	return nil
}

func ambiguous(why string) error { return fmt.Errorf("%w: path %s", ErrAmbiguousPath, why) }

func pathIsHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func pathHexValue(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
