package clerk

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// fuzzSign signs header and claims with key (RS256), without clerktest,
// which imports this package.
func fuzzSign(t testing.TB, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	hj, _ := json.Marshal(header)
	cj, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hj) + "." + base64.RawURLEncoding.EncodeToString(cj)
	d := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// FuzzDecodeJWT feeds arbitrary strings to the token decoder and, when they
// decode, to the verifier with a key generated for this run. Properties: no
// panic; a decoded token's signing input is the token's first two parts;
// and nothing verifies unless its header and payload are, byte for byte,
// the ones the key really signed (the one valid seed): mutations may only
// ever fail.
func FuzzDecodeJWT(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now().Unix()
	valid := fuzzSign(f, key, map[string]any{"alg": "RS256", "kid": "ins_fuzz", "typ": "JWT", "cat": CategorySession},
		map[string]any{"iss": "https://clerk.example.test", "sub": "user_1", "sid": "sess_1", "iat": now, "nbf": now - 5, "exp": now + 86400, "v": 2,
			"o": map[string]any{"id": "org_1", "slg": "acme", "rol": "admin", "per": "read,manage", "fpm": "3"}, "fea": "o:dashboard"})
	validInput := valid[:strings.LastIndexByte(valid, '.')]
	f.Add(valid)
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add("a.b.c.d")
	f.Add(validInput + ".")
	f.Add(valid + "=")
	f.Add(strings.Repeat("A", maxTokenLength+1))
	prepared, err := NewPublicKey(&key.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	verifier := NewVerifier(&StaticKeys{key: prepared}, VerifyOptions{})
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := DecodeJWT(token)
		if err != nil {
			if tok != nil {
				t.Fatal("error with a token")
			}
			if ReasonOf(err) != ReasonTokenInvalid {
				t.Fatalf("decode error reason %q, want token-invalid", ReasonOf(err))
			}
			return
		}
		if !strings.HasPrefix(token, tok.signingInput+".") || strings.Count(tok.signingInput, ".") != 1 {
			t.Fatalf("signing input %q is not the token's first two parts", tok.signingInput)
		}
		_ = tok.IsMachineJWT()
		_ = tok.HasNonSessionCategory()
		_, _ = tok.Claims.ActiveOrganization()
		if _, err := verifier.Verify(context.Background(), tok); err == nil && tok.signingInput != validInput {
			t.Fatalf("a token whose signed part the key never signed verified: %q", token)
		}
	})
}
