package clerk

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
	"sync"
	"testing"
)

// testRSAKeys are generated once per test binary: 1024-, 2048- and
// 3072-bit keys with e = 65537, and a 2048-bit key with e = 3 (the
// smallest exponent crypto/rsa accepts, one square-and-multiply step).
var testRSAKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	var keys []*rsa.PrivateKey
	for _, bits := range []int{1024, 2048, 3072} {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		keys = append(keys, k)
	}
	return append(keys, rsaKeyWithExponent3(2048))
})

// rsaKeyWithExponent3 builds a key with e = 3, which rsa.GenerateKey
// never makes: primes p with p-1 not divisible by 3.
func rsaKeyWithExponent3(bits int) *rsa.PrivateKey {
	three, one := big.NewInt(3), big.NewInt(1)
	prime := func() *big.Int {
		for {
			p, err := rand.Prime(rand.Reader, bits/2)
			if err != nil {
				panic(err)
			}
			if new(big.Int).Mod(new(big.Int).Sub(p, one), three).Sign() != 0 {
				return p
			}
		}
	}
	for {
		p, q := prime(), prime()
		n := new(big.Int).Mul(p, q)
		if p.Cmp(q) == 0 || n.BitLen() != bits {
			continue
		}
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 3}, D: new(big.Int).ModInverse(three, phi), Primes: []*big.Int{p, q}}
		if err := k.Validate(); err != nil {
			panic(err)
		}
		k.Precompute()
		return k
	}
}

func TestPublicKeyAgreesWithCryptoRSA(t *testing.T) {
	for _, priv := range testRSAKeys() {
		pub := &priv.PublicKey
		key, err := NewPublicKey(pub)
		if err != nil {
			t.Fatalf("%d-bit key, e=%d: %v", pub.N.BitLen(), pub.E, err)
		}
		digest := sha256.Sum256([]byte("header.payload"))
		valid, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		other := sha256.Sum256([]byte("header.other"))
		otherSig, _ := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, other[:])
		sha512Digest := sha512.Sum512([]byte("header.payload"))
		sha512Sig, _ := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA512, sha512Digest[:])
		rawSig, _ := rsa.SignPKCS1v15(rand.Reader, priv, 0, digest[:]) // no DigestInfo
		size := (pub.N.BitLen() + 7) / 8
		flip := func(i int) []byte {
			s := append([]byte(nil), valid...)
			s[i] ^= 0x01
			return s
		}
		fixed := func(n *big.Int) []byte { // size bytes, or longer when n does not fit
			if b := n.Bytes(); len(b) > size {
				return b
			}
			return n.FillBytes(make([]byte, size))
		}
		tests := []struct {
			name string
			sig  []byte
			want bool
		}{
			{"valid signature", valid, true},
			{"first byte flipped", flip(0), false},
			{"middle byte flipped", flip(size / 2), false},
			{"last byte flipped", flip(size - 1), false},
			{"signature of another digest", otherSig, false},
			{"SHA-512 signature", sha512Sig, false},
			{"signature without DigestInfo", rawSig, false},
			{"the modulus itself", fixed(pub.N), false},
			{"modulus minus one", fixed(new(big.Int).Sub(pub.N, big.NewInt(1))), false},
			{"modulus plus the signature", fixed(new(big.Int).Add(pub.N, new(big.Int).SetBytes(valid))), false},
			{"zero", make([]byte, size), false},
			{"one", fixed(big.NewInt(1)), false},
			{"one byte short", valid[1:], false},
			{"leading zero byte added", append([]byte{0}, valid...), false},
			{"empty", nil, false},
		}
		for _, tt := range tests {
			gotStd := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], tt.sig) == nil
			got := key.verifySHA256(&digest, tt.sig)
			if got != tt.want || gotStd != tt.want {
				t.Errorf("%d-bit key, e=%d, %s: verifySHA256 %v, crypto/rsa %v, want %v", pub.N.BitLen(), pub.E, tt.name, got, gotStd, tt.want)
			}
		}
	}
}

func TestNewPublicKeyRefusesWhatCryptoRSARefuses(t *testing.T) {
	good := &testRSAKeys()[1].PublicKey
	small := new(big.Int).SetBit(new(big.Int).Rsh(good.N, 1536), 0, 1) // odd, 512 bits
	huge := new(big.Int).Lsh(big.NewInt(1), maxRSABits)                // 8193 bits
	huge.Add(huge, big.NewInt(1))
	tests := []struct {
		name string
		key  *rsa.PublicKey
	}{
		{"nil key", nil},
		{"nil modulus", &rsa.PublicKey{E: 65537}},
		{"512-bit modulus", &rsa.PublicKey{N: small, E: 65537}},
		{"8193-bit modulus", &rsa.PublicKey{N: huge, E: 65537}},
		{"even modulus", &rsa.PublicKey{N: new(big.Int).Add(good.N, big.NewInt(1)), E: 65537}},
		{"exponent 1", &rsa.PublicKey{N: good.N, E: 1}},
		{"even exponent", &rsa.PublicKey{N: good.N, E: 65536}},
		{"negative exponent", &rsa.PublicKey{N: good.N, E: -3}},
		{"exponent over 2^31-1", &rsa.PublicKey{N: good.N, E: 1 << 31}},
	}
	for _, tt := range tests {
		if k, err := NewPublicKey(tt.key); err == nil || k != nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if _, err := NewPublicKey(good); err != nil {
		t.Fatalf("2048-bit key: %v", err)
	}
}

// FuzzPublicKeyVerify: for any signature bytes (a valid signature with
// bytes XORed in, truncated or extended) and either of two digests, the
// prepared key accepts exactly what crypto/rsa accepts.
func FuzzPublicKeyVerify(f *testing.F) {
	priv := testRSAKeys()[1]
	key, err := NewPublicKey(&priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	digests := [2][32]byte{sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))}
	valid, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digests[0][:])
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{}, uint16(0), false, false)
	f.Add([]byte{1}, uint16(255), false, false)
	f.Add([]byte{0xff, 0xff}, uint16(0), true, false)
	f.Add([]byte{}, uint16(3), false, true)
	f.Fuzz(func(t *testing.T, mask []byte, at uint16, otherDigest, truncate bool) {
		sig := append([]byte(nil), valid...)
		for i, b := range mask {
			sig[(int(at)+i)%len(sig)] ^= b
		}
		if truncate {
			sig = sig[:int(at)%len(sig)]
		}
		digest := &digests[0]
		if otherDigest {
			digest = &digests[1]
		}
		want := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, digest[:], sig) == nil
		if got := key.verifySHA256(digest, sig); got != want {
			t.Fatalf("verifySHA256 = %v, crypto/rsa says %v (mask %x at %d, other digest %v, truncate %v)", got, want, mask, at, otherDigest, truncate)
		}
	})
}

// A signature is exactly as long as the modulus: one whose value begins
// with a zero byte and arrives without it is refused, as crypto/rsa
// refuses it, although its number is the right one.
func TestPublicKeyRefusesASignatureWithoutItsLeadingZero(t *testing.T) {
	priv := testRSAKeys()[1]
	key, err := NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5000; i++ { // 1 in 256 signatures begins with 0x00
		digest := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		if sig[0] != 0 {
			continue
		}
		if !key.verifySHA256(&digest, sig) {
			t.Fatal("full-length signature refused")
		}
		stripped := sig[1:]
		if rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, digest[:], stripped) == nil {
			t.Fatal("crypto/rsa accepted a short signature: this test's premise is wrong")
		}
		if key.verifySHA256(&digest, stripped) {
			t.Fatal("signature without its leading zero accepted")
		}
		return
	}
	t.Fatal("no signature beginning with a zero byte in 5000")
}
