package clerk

import (
	"encoding/base64"
	"math/rand/v2"
	"reflect"
	"testing"
)

// entryTestTokens are decodable tokens covering every optional part of an
// entry: v1 and v2 organizations, permission lists nil, empty and longer
// than the inline room, an actor, header typ and cat absent or present,
// nbf and iat absent, a malformed "fea" (the organization is then not
// memoized), and the decode test's tokens and their mutations.
func entryTestTokens(t *testing.T) []string {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	h := enc(`{"alg":"RS256","kid":"ins_2abc","typ":"JWT","cat":"cl_B7d4PD111AAA"}`)
	bare := enc(`{"alg":"RS256"}`)
	sig := enc("signature")
	tokens := []string{
		h + "." + enc(`{"sub":"user_1","sid":"sess_1","exp":1700000060}`) + "." + sig,
		bare + "." + enc(`{"sub":"user_1","exp":1.5,"nbf":null,"iat":-3}`) + "." + sig,
		h + "." + enc(`{"sub":"user_1","act":{"sub":"user_2","iss":"https://x","sid":"sess_2","type":"impersonation"}}`) + "." + sig,
		h + "." + enc(`{"sub":"u","org_id":"org_1","org_slug":"acme","org_role":"org:admin","org_permissions":[]}`) + "." + sig,
		h + "." + enc(`{"sub":"u","org_id":"org_1","org_permissions":["org:a:read","org:b:read"]}`) + "." + sig,
		h + "." + enc(`{"sub":"u","org_id":"org_1"}`) + "." + sig,
		h + "." + enc(`{"v":2,"sub":"u","o":{"id":"org_1","slg":"acme","rol":"admin","per":"read,manage,delete","fpm":"7,7"},"fea":"o:a,o:b"}`) + "." + sig,
		h + "." + enc(`{"v":2,"sub":"u","o":{"id":"org_1","rol":"admin","per":"a,b,c,d,e","fpm":"31,31"},"fea":"o:x,o:y"}`) + "." + sig,
		h + "." + enc(`{"v":2,"sub":"u","o":{"id":"org_1"}}`) + "." + sig,
		h + "." + enc(`{"v":2,"sub":"u","o":{"id":"org_1","per":"a","fpm":"1"},"fea":"o:f,"}`) + "." + sig, // malformed fea
		h + "." + enc(`{"v":"2","sub":"u","o":{"id":"org_1"},"sts":"pending","azp":"https://app"}`) + "." + sig,
	}
	r := rand.New(rand.NewPCG(3, 4)) //nolint:gosec // seeded, reproducible test inputs; not a secret
	for _, base := range decodeTestTokens(t) {
		tokens = append(tokens, base)
		for range 500 {
			tokens = append(tokens, mutate(r, base))
		}
	}
	return tokens
}

// TestTokenEntryRoundTrip: what a cache hit decodes is the token that was
// verified, field for field, and its organization is the same.
func TestTokenEntryRoundTrip(t *testing.T) {
	n := 0
	for _, token := range entryTestTokens(t) {
		if checkTokenEntryRoundTrip(t, token) {
			n++
		}
	}
	if n < 100 {
		t.Fatalf("only %d decodable tokens: the test covers too little", n)
	}
}

func checkTokenEntryRoundTrip(t *testing.T, token string) bool {
	t.Helper()
	want, err := DecodeJWT(token)
	if err != nil {
		return false
	}
	entry := encodeTokenEntry(want)
	got := decodeTokenEntry(entry)
	if got == nil {
		t.Fatalf("%q: the entry did not decode", token)
	}
	wantOrg, wantErr := want.Claims.ActiveOrganization()
	gotOrg, gotErr := got.Claims.ActiveOrganization()
	if !reflect.DeepEqual(gotOrg, wantOrg) || (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: organization %+v, %v; want %+v, %v", token, gotOrg, gotErr, wantOrg, wantErr)
	}
	if gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%q: organization error %v, want %v", token, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		t.Fatalf("%q: header %+v, want %+v", token, got.Header, want.Header)
	}
	gc, wc := got.Claims, want.Claims
	gc.activeOrg, wc.activeOrg = nil, nil
	if !reflect.DeepEqual(gc, wc) {
		t.Fatalf("%q: claims\n%+v\nwant\n%+v", token, gc, wc)
	}
	if got.Signature != nil || got.signingInput != "" || got.raw != "" {
		t.Fatalf("%q: the entry kept the signature or the token", token)
	}
	if e := entryExpiry(entry); want.Claims.Expiry != nil && e != *want.Claims.Expiry {
		t.Fatalf("%q: entry expiry %v, want %v", token, e, *want.Claims.Expiry)
	}
	return true
}

// FuzzTokenEntryRoundTrip is TestTokenEntryRoundTrip on any input.
func FuzzTokenEntryRoundTrip(f *testing.F) {
	for _, s := range entryTestTokens(&testing.T{}) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) { checkTokenEntryRoundTrip(t, token) })
}

func TestTokenEntryHitAllocatesOnce(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	tok, err := DecodeJWT(signedTestToken(t))
	if err != nil {
		t.Fatal(err)
	}
	tok.Claims.memoizeActiveOrganization()
	entry := encodeTokenEntry(tok)
	if allocs := testing.AllocsPerRun(100, func() { decodeTokenEntry(entry) }); allocs != 1 {
		t.Fatalf("a hit costs %v allocations, want 1", allocs)
	}
}
