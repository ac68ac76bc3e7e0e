package clerk

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"

	"filippo.io/bigmod"
)

// PublicKey is an RSA public key prepared for RS256 verification.
//
// crypto/rsa converts a public key's modulus to Montgomery form on every
// VerifyPKCS1v15 call (it caches that for private keys only), which is a
// third of an RSA-2048 verification (BenchmarkVerifySignature in
// bench/README.md), and RSA is most of what a never-seen token costs. A PublicKey does it once, when the key is loaded, with
// filippo.io/bigmod, the exported copy of the arithmetic crypto/rsa itself
// runs on. What is left is the check RFC 8017 §8.2.2 describes: s below
// n, s^e mod n, and a byte comparison with the one valid encoding of the
// digest. TestPublicKeyAgreesWithCryptoRSA and FuzzPublicKeyVerify hold it
// to crypto/rsa's answers.
type PublicKey struct {
	modulus *bigmod.Modulus
	e       uint
	// encodedPrefix is EMSA-PKCS1-v1_5's encoding of a SHA-256 digest up
	// to the digest: 0x00 0x01, 0xff padding, 0x00 and the DigestInfo
	// header. It depends only on the modulus size.
	encodedPrefix []byte
}

// sha256DigestInfo is the DER header of a SHA-256 DigestInfo (RFC 8017
// §9.2, note 1).
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// Key size bounds. crypto/rsa refuses moduli under 1024 bits; 8192 is the
// ceiling crypto/x509 parses, and keeps a hostile key set from making
// each verification arbitrarily slow. Clerk signs with 2048-bit keys.
const (
	minRSABits = 1024
	maxRSABits = 8192
)

// NewPublicKey prepares k. It refuses what crypto/rsa refuses to verify
// with (an exponent that is even, below 3 or above 2^31-1; a modulus under
// 1024 bits) and moduli that are even or over 8192 bits.
func NewPublicKey(k *rsa.PublicKey) (*PublicKey, error) {
	if k == nil || k.N == nil {
		return nil, errors.New("no RSA key")
	}
	bits := k.N.BitLen()
	switch {
	case bits < minRSABits || bits > maxRSABits:
		return nil, fmt.Errorf("RSA modulus of %d bits (want %d to %d)", bits, minRSABits, maxRSABits)
	case k.N.Bit(0) == 0:
		return nil, errors.New("RSA modulus is even")
	case k.E < 3 || k.E&1 == 0 || k.E > 1<<31-1:
		return nil, fmt.Errorf("RSA public exponent %d (want an odd number from 3 to 2^31-1)", k.E)
	}
	m, err := bigmod.NewModulus(k.N.Bytes())
	if err != nil {
		return nil, fmt.Errorf("RSA modulus: %w", err)
	}
	size := m.Size()
	prefix := make([]byte, size-len(sha256DigestInfo)-32, size-32)
	prefix[1] = 0x01
	for i := 2; i < len(prefix)-1; i++ {
		prefix[i] = 0xff
	}
	prefix = append(prefix, sha256DigestInfo...)
	return &PublicKey{modulus: m, e: uint(k.E), encodedPrefix: prefix}, nil
}

// verifySHA256 reports whether sig is k's RSASSA-PKCS1-v1_5 signature of
// digest, as rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil.
// Everything here is public (key, digest, signature), so variable time is
// fine.
func (k *PublicKey) verifySHA256(digest *[32]byte, sig []byte) bool {
	// The signature must be exactly the modulus's length and below it.
	if len(sig) != len(k.encodedPrefix)+len(digest) {
		return false
	}
	s, err := bigmod.NewNat().SetBytes(sig, k.modulus)
	if err != nil {
		return false
	}
	em := bigmod.NewNat().ExpShortVarTime(s, k.e, k.modulus).Bytes(k.modulus)
	n := len(k.encodedPrefix)
	// bigmod documents em as the modulus's size, which the length check
	// above made n+32; the check repeats that so a dependency that broke
	// it would fail the signature instead of panicking on em[:n].
	return len(em) == n+len(digest) && bytes.Equal(em[:n], k.encodedPrefix) && bytes.Equal(em[n:], digest[:])
}
