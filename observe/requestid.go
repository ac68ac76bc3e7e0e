package observe

import (
	"crypto/rand"
	"encoding/hex"
)

// maxRequestIDLength bounds a request id we pass through.
const maxRequestIDLength = 128

// RequestID is the proxy's X-Request-Id when it is a sane token (1–128
// characters of [A-Za-z0-9._-]), so log lines join the proxy's; anything
// else (absent, too long, a client's attempt to inject into logs) is
// replaced by a fresh random id.
func RequestID(header string) string {
	if saneRequestID(header) {
		return header
	}
	return NewRequestID()
}

func saneRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// NewRequestID is 128 random bits in hex: unique without coordination.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
