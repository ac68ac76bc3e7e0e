package clerk

import (
	"encoding/base64"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// referenceDecodeJWT is DecodeJWT as it was before it was made cheap for
// garbage (every buffer allocated up front, each error built on the spot):
// the oracle for what DecodeJWT and Verifier.Decode accept and for the
// exact errors they return.
func referenceDecodeJWT(token string) (*JWT, error) {
	if len(token) > maxTokenLength {
		return nil, tokenError(ReasonTokenInvalid, "token is too long")
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, tokenError(ReasonTokenInvalid, "Invalid JWT form. A JWT consists of three parts separated by dots.")
	}
	hj, err1 := decodeSegment(h)
	pj, err2 := decodeSegment(p)
	sig, err3 := decodeSegment(s)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, tokenError(ReasonTokenInvalid, "Invalid JWT form. The header, payload, or signature could not be decoded.")
	}
	t := &JWT{Signature: sig, signingInput: token[:len(h)+1+len(p)], raw: token}
	st := new(tokenStore)
	if err := t.Header.decode(string(hj), st); err != nil {
		return nil, tokenError(ReasonTokenInvalid, "Invalid JWT form. The header could not be decoded.")
	}
	if err := t.Claims.decode(string(pj), st); err != nil {
		return nil, tokenError(ReasonTokenInvalid, "Invalid JWT form. The payload could not be decoded: "+err.Error())
	}
	return t, nil
}

// decodeTestTokens are the starting points of the differential test: valid
// tokens and each kind of refusal.
func decodeTestTokens(t *testing.T) []string {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	header := enc(`{"alg":"RS256","kid":"ins_2abc","typ":"JWT","cat":"cl_B7d4PD111AAA"}`)
	sig := enc(strings.Repeat("s", 256))
	valid := signedTestToken(t)
	return []string{
		valid,
		header + "." + enc(`{"sub":"user_1","exp":1,"act":{"sub":"user_2"}}`) + "." + enc(strings.Repeat("s", 512)), // 4096-bit key
		header + "." + enc(`{"sub":"user_1"}`) + ".",                                                                // no signature
		header + "." + enc(`{"sub":1}`) + "." + sig,                                                                 // claim of the wrong type
		header + "." + enc(`{"o":{"id":[]}}`) + "." + sig,                                                           // nested
		header + "." + enc(`nope`) + "." + sig,                                                                      // not JSON
		header + "." + enc(`null`) + "." + sig,                                                                      // not an object
		header + "." + enc(`{"a":`+strings.Repeat("[", maxJSONDepth+1)) + "." + sig,                                 // too deep
		enc(`{"alg":1}`) + "." + enc(`{}`) + "." + sig,
		enc(`[]`) + "." + enc(`{}`) + "." + sig,
		valid[:len(valid)-1] + "\r\n" + valid[len(valid)-1:], // CR and LF are refused, as by the SDK
		valid + "===",
		"not-a-token", "a!b.c!d.e!f", "..", "...", "a.b.c", "ab.cd.e", "",
		strings.Repeat("A", maxTokenLength+1),
		strings.Repeat("A", maxTokenLength-2) + "..",
	}
}

// mutate applies a few random edits biased towards what matters to
// decoding: dots, padding, CR/LF, characters outside the alphabet.
func mutate(r *rand.Rand, s string) string {
	const alphabet = ".=\r\n!+/ {}\"AZaz09-_\x00\xff"
	b := []byte(s)
	for n := 1 + r.IntN(3); n > 0; n-- {
		i := 0
		if len(b) > 0 {
			i = r.IntN(len(b) + 1)
		}
		c := alphabet[r.IntN(len(alphabet))]
		switch op := r.IntN(5); {
		case op == 0 && i < len(b):
			b = append(b[:i], b[i+1:]...)
		case op == 1:
			b = append(b[:i], append([]byte{c}, b[i:]...)...)
		case op == 2 && i < len(b):
			b[i] = c
		case op == 3:
			b = b[:i]
		default:
			b = append(b, strings.Repeat("=", r.IntN(3))...)
		}
	}
	return string(b)
}

// TestDecodeMatchesReference: DecodeJWT, with its checks before decoding,
// and Verifier.Decode, with its check before hashing for the cache, accept
// exactly the tokens the reference decoder accepts, decode them alike, and
// refuse the others with the very same reason and message.
func TestDecodeMatchesReference(t *testing.T) {
	v := NewVerifier(&StaticKeys{}, VerifyOptions{TokenCacheSize: 100})
	r := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // seeded, reproducible test inputs; not a secret
	for _, base := range decodeTestTokens(t) {
		checkDecodeMatchesReference(t, v, base)
		for range 2000 {
			checkDecodeMatchesReference(t, v, mutate(r, base))
		}
	}
}

func checkDecodeMatchesReference(t *testing.T, v *Verifier, token string) {
	t.Helper()
	want, wantErr := referenceDecodeJWT(token)
	got, err := DecodeJWT(token)
	sameDecode(t, "DecodeJWT", token, got, err, want, wantErr)
	got, err = v.Decode(token)
	sameDecode(t, "Verifier.Decode", token, got, err, want, wantErr)
	if wantErr == nil && !mayBeCached(token) {
		t.Fatalf("mayBeCached(%q) = false for a token that decodes: it would never hit the cache", token)
	}
}

func TestMayBeCached(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	header := b64([]byte(`{"alg":"RS256"}`))
	tests := []struct {
		name  string
		token string
		want  bool
	}{
		{"session token", decodeTestTokens(t)[0], true},
		{"no dot", "sk_live_0123456789abcdef", false},
		{"payload of random bytes", header + "." + b64([]byte("\x93\x01binary")) + ".sig", false},
		{"header of random bytes", b64([]byte("\x00\x01")) + "." + b64([]byte(`{"sub":"u"}`)) + ".sig", false},
		{"payload that is a JSON array", header + "." + b64([]byte(`["x"]`)) + ".sig", false},
		{"payload led by JSON white space", header + "." + b64([]byte(" \t{}")) + ".sig", true},
		{"payload led by a newline", header + "." + b64([]byte("\n{}")) + ".sig", true},
		{"payload of one character: unsure", header + ".e.sig", true},
		{"payload led by a character the decoder skips: unsure", header + ".\r\n" + b64([]byte("xx")) + ".sig", true},
		{"empty parts: unsure", "..", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mayBeCached(tt.token); got != tt.want {
				t.Fatalf("mayBeCached(%q) = %v, want %v", tt.token, got, tt.want)
			}
		})
	}
}

func sameDecode(t *testing.T, name, token string, got *JWT, err error, want *JWT, wantErr error) {
	t.Helper()
	if wantErr != nil {
		if err == nil || got != nil || ReasonOf(err) != ReasonOf(wantErr) || err.Error() != wantErr.Error() ||
			err.(*TokenError).Message != wantErr.(*TokenError).Message {
			t.Fatalf("%s(%q) = %v, %v; want error %v", name, token, got, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s(%q): %v, want no error", name, token, err)
	}
	if !reflect.DeepEqual(got.Header, want.Header) || !reflect.DeepEqual(got.Claims, want.Claims) ||
		string(got.Signature) != string(want.Signature) || got.signingInput != want.signingInput || got.raw != want.raw {
		t.Fatalf("%s(%q) = %+v, want %+v", name, token, got, want)
	}
}

// FuzzDecodeMatchesReference is TestDecodeMatchesReference on any input.
func FuzzDecodeMatchesReference(f *testing.F) {
	for _, s := range decodeTestTokens(&testing.T{}) {
		f.Add(s)
	}
	v := NewVerifier(&StaticKeys{}, VerifyOptions{TokenCacheSize: 100})
	f.Fuzz(func(t *testing.T, token string) { checkDecodeMatchesReference(t, v, token) })
}

// TestDecodeAllocations pins what decoding costs: a valid token two
// allocations, refusing garbage at most as many, none before the JSON,
// and no allocation for the text of these errors when logged.
func TestDecodeAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	header := enc(`{"alg":"RS256"}`)
	v := NewVerifier(&StaticKeys{}, VerifyOptions{TokenCacheSize: 100})
	tests := []struct {
		name            string
		token           string
		decode, verifer float64 // DecodeJWT, Verifier.Decode
	}{
		{"valid", signedTestToken(t), 2, 2},
		{"too long", strings.Repeat("A", maxTokenLength+1), 0, 0},
		{"no dots", "not-a-token", 0, 0},
		{"four parts", "a.b.c.d", 0, 0},
		{"bad length", "abcde.abcd.abcd", 0, 0},
		{"not base64", "a!b.c!d.e!f", 1, 1},
		{"header not JSON", enc("nope") + "." + enc("{}") + ".", 2, 2},
		{"payload not JSON", header + "." + enc("nope") + ".", 2, 2},
		{"payload not an object", header + "." + enc("[]") + ".", 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if n := testing.AllocsPerRun(100, func() { _, err = DecodeJWT(tt.token) }); n > tt.decode {
				t.Errorf("DecodeJWT: %v allocations, want %v", n, tt.decode)
			}
			if n := testing.AllocsPerRun(100, func() { _, err = v.Decode(tt.token) }); n > tt.verifer {
				t.Errorf("Verifier.Decode: %v allocations, want %v", n, tt.verifer)
			}
			if err != nil {
				if n := testing.AllocsPerRun(100, func() { _ = err.Error() }); n != 0 {
					t.Errorf("Error(): %v allocations, want 0", n)
				}
			}
		})
	}
}
