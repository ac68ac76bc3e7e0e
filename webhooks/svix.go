package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// The Svix headers Clerk's webhooks carry.
const (
	HeaderID        = "svix-id"
	HeaderTimestamp = "svix-timestamp"
	HeaderSignature = "svix-signature"
)

// SecretPrefix starts every Svix endpoint signing secret.
const SecretPrefix = "whsec_"

// minKeyBytes refuses a secret whose key is too short to be one Svix made
// (Svix's are 24 bytes or more): a truncated or mistyped secret.
const minKeyBytes = 16

// Refusal reasons, the "reason" of a reply.
const (
	reasonMissingHeaders    = "missing-headers"
	reasonInvalidHeaders    = "invalid-headers"
	reasonTimestampTooOld   = "timestamp-too-old"
	reasonTimestampTooNew   = "timestamp-too-new"
	reasonSignatureMismatch = "signature-mismatch"
)

var errTooLarge = errors.New("body too large")

// parseSecret returns the HMAC key of a signing secret "whsec_<base64>".
// Its errors never include the secret.
func parseSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New("webhooks: the signing secret does not start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("webhooks: the signing secret after " + SecretPrefix + " is not standard base64")
	}
	if len(key) < minKeyBytes {
		return nil, errors.New("webhooks: the signing secret's key is shorter than " + strconv.Itoa(minKeyBytes) + " bytes")
	}
	return key, nil
}

// parseTimestamp reads svix-timestamp: unix seconds in decimal digits, as
// Svix sends them (no sign, no fraction, at most 18 digits).
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	return ts, err == nil
}

// checkTimestamp refuses a timestamp more than tolerance (whole seconds)
// before or after now; it returns "" when ts is within it.
func checkTimestamp(ts int64, now time.Time, tolerance time.Duration) string {
	tol := int64(tolerance / time.Second)
	age := now.Unix() - ts
	switch {
	case age > tol:
		return reasonTimestampTooOld
	case age < -tol:
		return reasonTimestampTooNew
	}
	return ""
}

// sign is Svix's v1 signature of a message, base64 (standard, padded) of
// HMAC-SHA256(key, id + "." + timestamp + "." + body), without "v1,".
func sign(key []byte, id string, ts int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	_, _ = io.WriteString(mac, id)
	_, _ = io.WriteString(mac, ".")
	_, _ = io.WriteString(mac, strconv.FormatInt(ts, 10))
	_, _ = io.WriteString(mac, ".")
	_, _ = mac.Write(body)
	sum := mac.Sum(nil)
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sum)))
	base64.StdEncoding.Encode(out, sum)
	return out
}

// signatureMatches reports whether one of the "v1,<base64>" entries of an
// svix-signature header equals expected. Entries are separated by spaces;
// entries of another version, or without a comma, are skipped. Every v1
// entry is compared, in constant time.
func signatureMatches(header string, expected []byte) bool {
	match := false
	for entry := range strings.SplitSeq(header, " ") {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		if hmac.Equal([]byte(sig), expected) {
			match = true
		}
	}
	return match
}

// readBody reads at most max bytes of r; a longer body is errTooLarge,
// with no more than max+1 bytes read.
func readBody(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, nil
}
