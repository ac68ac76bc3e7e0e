package clerk

import (
	"crypto/sha1" //nolint:gosec // Clerk's cookie suffix is defined as SHA-1 of the key; not a security use
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// PublishableKey is a parsed Clerk publishable key: pk_test_ or pk_live_
// followed by base64("<Frontend API host>$").
type PublishableKey struct {
	Raw        string // exactly as configured; the cookie suffix hashes this
	FAPIHost   string // e.g. "clerk.example.com" or "x-y-1.clerk.accounts.dev"
	Production bool   // pk_live_
}

// ParsePublishableKey follows @clerk/shared keys.ts parsePublishableKey:
// three "_"-separated parts, the third decoded leniently (padding optional),
// ending in a single "$" and containing a ".".
func ParsePublishableKey(raw string) (PublishableKey, error) {
	parts := strings.Split(raw, "_")
	if len(parts) != 3 || parts[0] != "pk" || (parts[1] != "test" && parts[1] != "live") {
		return PublishableKey{}, errors.New("publishable key must look like pk_test_… or pk_live_…")
	}
	decoded, err := decodeLenientBase64(parts[2])
	if err != nil {
		return PublishableKey{}, fmt.Errorf("publishable key does not decode: %w", err)
	}
	host, ok := strings.CutSuffix(decoded, "$")
	if !ok || strings.Contains(host, "$") || !strings.Contains(host, ".") {
		return PublishableKey{}, errors.New("publishable key does not encode a Frontend API host")
	}
	for _, r := range host {
		if r <= ' ' || r == '/' || r == '\\' || r == '@' || r == '?' || r == '#' || r > '~' {
			return PublishableKey{}, errors.New("publishable key encodes an invalid Frontend API host")
		}
	}
	return PublishableKey{Raw: raw, FAPIHost: host, Production: parts[1] == "live"}, nil
}

func decodeLenientBase64(s string) (string, error) {
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return string(b), nil
		}
	}
	return "", errors.New("not base64")
}

// CookieSuffix is the first 8 characters of the URL-safe base64 SHA-1 of the
// publishable key (@clerk/shared getCookieSuffix). Suffixed cookies let
// several Clerk apps share one eTLD+1.
func CookieSuffix(publishableKey string) string {
	sum := sha1.Sum([]byte(publishableKey)) //nolint:gosec // Clerk's cookie suffix is defined as SHA-1 of the key; not a security use
	return base64.URLEncoding.EncodeToString(sum[:])[:8]
}

// AccountsBaseURL is the Account Portal origin for a Frontend API host:
// "clerk.accounts." or "clerk." becomes "accounts." (@clerk/shared
// buildAccountsBaseUrl).
func AccountsBaseURL(fapiHost string) string {
	host := fapiHost
	if strings.Contains(host, "clerk.accounts.") {
		host = strings.Replace(host, "clerk.accounts.", "accounts.", 1)
	} else {
		host = strings.Replace(host, "clerk.", "accounts.", 1)
	}
	return "https://" + host
}
