package clerk

import (
	"encoding/base64"
	"math/rand/v2"
	"reflect"
	"testing"
)

// sessionTestTokens are decodable tokens covering every part of a Session:
// v1 and v2 organizations, permission lists empty and longer than the
// decoder's inline room, an actor, nbf and iat absent, zero or negative, a
// malformed "fea" (OrgError), and the decode test's tokens and their
// mutations.
func sessionTestTokens(t *testing.T) []string {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	h := enc(`{"alg":"RS256","kid":"ins_2abc","typ":"JWT","cat":"cl_B7d4PD111AAA"}`)
	sig := enc("signature")
	tokens := []string{
		h + "." + enc(`{"sub":"user_1","sid":"sess_1","exp":1700000060}`) + "." + sig,
		h + "." + enc(`{"sub":"user_1","exp":1.5,"nbf":null,"iat":-3}`) + "." + sig,
		h + "." + enc(`{"sub":"user_1","exp":9,"nbf":0,"iat":0}`) + "." + sig,
		h + "." + enc(`{"sub":"user_1","act":{"sub":"user_2","iss":"https://x","sid":"sess_2","type":"impersonation"}}`) + "." + sig,
		h + "." + enc(`{"sub":"u","org_id":"org_1","org_slug":"acme","org_role":"org:admin","org_permissions":[]}`) + "." + sig,
		h + "." + enc(`{"sub":"u","org_id":"org_1","org_permissions":["org:a:read","org:b:read"]}`) + "." + sig,
		h + "." + enc(`{"sub":"u","org_id":"org_1"}`) + "." + sig,
		h + "." + enc(`{"v":2,"sub":"u","o":{"id":"org_1","slg":"acme","rol":"admin","per":"read,manage,delete","fpm":"7,7"},"fea":"o:a,o:b"}`) + "." + sig,
		h + "." + enc(`{"v":2,"sub":"u","o":{"id":"org_1","rol":"admin","per":"a,b,c,d,e","fpm":"31,31"},"fea":"o:x,o:y"}`) + "." + sig,
		h + "." + enc(`{"v":2,"sub":"u","o":{"id":"org_1"}}`) + "." + sig,
		h + "." + enc(`{"v":2,"sub":"u","o":{"id":"org_1","per":"a","fpm":"1"},"fea":"o:f,"}`) + "." + sig, // malformed fea
		h + "." + enc(`{"v":"2","sub":"u","o":{"id":"org_1"},"sts":"pending","azp":"https://app","iss":"https://clerk.example.test"}`) + "." + sig,
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, base := range decodeTestTokens(t) {
		tokens = append(tokens, base)
		for range 500 {
			tokens = append(tokens, mutate(r, base))
		}
	}
	return tokens
}

// TestSessionCodecRoundTrip: what a cache hit decodes is the session that
// was verified, field for field.
func TestSessionCodecRoundTrip(t *testing.T) {
	n := 0
	for _, token := range sessionTestTokens(t) {
		if checkSessionRoundTrip(t, token) {
			n++
		}
	}
	if n < 100 {
		t.Fatalf("only %d decodable tokens: the test covers too little", n)
	}
}

func checkSessionRoundTrip(t *testing.T, token string) bool {
	t.Helper()
	tok, err := DecodeJWT(token)
	if err != nil {
		return false
	}
	want := newSession(&tok.Claims)
	d := decodeSession(encodeSession(want))
	if d == nil {
		t.Fatalf("%q: the session did not decode", token)
	}
	got := d.Session
	if (got.OrgError == nil) != (want.OrgError == nil) ||
		got.OrgError != nil && got.OrgError.Error() != want.OrgError.Error() {
		t.Fatalf("%q: organization error %v, want %v", token, got.OrgError, want.OrgError)
	}
	got.OrgError, want.OrgError = nil, nil
	if want.Org != nil && len(want.Org.Permissions) == 0 {
		// Readers treat an empty permission list as none; the codec
		// decodes both as nil.
		org := *want.Org
		org.Permissions = nil
		want.Org = &org
	}
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("%q: session\n%+v\nwant\n%+v", token, got, *want)
	}
	return true
}

// FuzzSessionCodecRoundTrip is TestSessionCodecRoundTrip on any token.
func FuzzSessionCodecRoundTrip(f *testing.F) {
	for _, s := range sessionTestTokens(&testing.T{}) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) { checkSessionRoundTrip(t, token) })
}

// FuzzDecodeSessionRefusesWhatEncodeCannotWrite: any bytes decode to nil
// or to a session that encodes back to exactly those bytes, never panic.
func FuzzDecodeSessionRefusesWhatEncodeCannotWrite(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeSession(&Session{Subject: "user_1", Expiry: 1}))
	f.Add(encodeSession(&Session{Subject: "u", Org: &ActiveOrganization{ID: "org_1", Permissions: []string{"a", "b", "c", "d", "e"}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := decodeSession(b)
		if d == nil {
			return
		}
		if again := encodeSession(&d.Session); string(again) != string(b) {
			t.Fatalf("decoded %x, which encodes as %x", b, again)
		}
	})
}

func TestSessionHitAllocatesOnceWithFewPermissions(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	tok, err := DecodeJWT(signedTestToken(t))
	if err != nil {
		t.Fatal(err)
	}
	entry := encodeSession(newSession(&tok.Claims))
	// Two: the copy of the entry the strings share, and the session.
	if allocs := testing.AllocsPerRun(100, func() { decodeSession(entry) }); allocs != 2 {
		t.Fatalf("decoding a session costs %v allocations, want 2", allocs)
	}
}
