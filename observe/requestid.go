package observe

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
)

// maxRequestIDLength bounds a request id we pass through.
const maxRequestIDLength = 128

// RequestID is the proxy's X-Request-Id when it is a sane token (1–128
// characters of [A-Za-z0-9._-]), so log lines join the proxy's; anything
// else (absent, too long, a client's attempt to inject into logs) is
// replaced by a fresh id.
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

// requestIDs hands out ids: a random 64-bit prefix drawn once per process,
// then a counter. Reading crypto/rand for every request cost more than the
// rest of the id; the prefix keeps ids from two replicas (or two restarts)
// apart without coordination, the counter keeps them apart within one.
var requestIDs = newIDSource()

type idSource struct {
	prefix [16]byte // hex of 8 random bytes
	next   atomic.Uint64
}

func newIDSource() *idSource {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	s := &idSource{}
	hex.Encode(s.prefix[:], b[:8])
	// Start the counter at a random point too, so the ids do not tell how
	// many requests this process has served.
	s.next.Store(binary.LittleEndian.Uint64(b[8:]))
	return s
}

// NewRequestID is 32 hex characters: 64 random bits fixed per process and
// a 64-bit counter. Unique without coordination.
func NewRequestID() string {
	var b [32]byte
	copy(b[:16], requestIDs.prefix[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], requestIDs.next.Add(1))
	hex.Encode(b[16:], n[:])
	return string(b[:])
}
