package observe

import (
	"regexp"
	"strings"
)

// secretPattern finds what must never reach a log line or a span even if a
// caller slips: JWTs (base64url JSON header "eyJ…" and at least one more
// dotted part) and Clerk secret keys.
var secretPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*|sk_(?:live|test)_[A-Za-z0-9]+`)

// maxFreeText bounds a free-text field in a log line.
const maxFreeText = 512

// Redact replaces JWTs and secret keys in s with "[redacted]" and bounds
// its length. It is a second line of defence: callers do not pass tokens.
func Redact(s string) string {
	if len(s) > maxFreeText {
		s = s[:maxFreeText] + "…"
	}
	if !strings.Contains(s, "eyJ") && !strings.Contains(s, "sk_") {
		return s
	}
	return secretPattern.ReplaceAllString(s, "[redacted]")
}
