package clerk

import (
	"encoding/base64"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeRefusesInvalidJSON(t *testing.T) {
	tests := []struct {
		name    string
		payload string
	}{
		{"empty input", ``},
		{"only whitespace", " \t\r\n"},
		{"top-level array", `[]`},
		{"top-level null", `null`},
		{"top-level string", `"sub"`},
		{"top-level number", `1`},
		{"data after the object", `{"sub":"a"} x`},
		{"a second object", `{"sub":"a"}{}`},
		{"vertical tab is not JSON whitespace", "\v{}"},
		{"form feed is not JSON whitespace", "{}\f"},
		{"no-break space is not JSON whitespace", "\u00a0{}"},
		{"byte order mark", "\ufeff{}"},
		{"unterminated object", `{"sub":"a"`},
		{"unterminated string", `{"sub":"a}`},
		{"key without value", `{"sub"}`},
		{"missing value", `{"sub":}`},
		{"missing colon", `{"sub" "a"}`},
		{"missing comma", `{"sub":"a" "sid":"b"}`},
		{"trailing comma in object", `{"sub":"a",}`},
		{"leading comma in object", `{,"sub":"a"}`},
		{"trailing comma in skipped array", `{"x":[1,]}`},
		{"leading comma in skipped array", `{"x":[,1]}`},
		{"trailing comma in skipped object", `{"x":{"a":1,}}`},
		{"non-string key", `{"x":{1:1}}`},
		{"unclosed skipped array", `{"x":[[]}`},
		{"mismatched brackets", `{"x":[}]}`},
		{"single-quoted string", `{'sub':'a'}`},
		{"truncated literal", `{"x":tru}`},
		{"capitalised literal", `{"x":True}`},
		{"leading zero", `{"exp":01}`},
		{"leading zero in a skipped number", `{"x":-012}`},
		{"plus sign", `{"exp":+1}`},
		{"no integer part", `{"exp":.5}`},
		{"no fraction digits", `{"exp":1.}`},
		{"no exponent digits", `{"exp":1e+}`},
		{"lone minus", `{"exp":-}`},
		{"NaN", `{"exp":NaN}`},
		{"Infinity", `{"x":-Infinity}`},
		{"hexadecimal", `{"exp":0x10}`},
		{"control character in a string", "{\"sub\":\"a\x01\"}"},
		{"raw newline in a skipped string", "{\"x\":\"a\nb\"}"},
		{"raw tab in a key", "{\"s\tb\":1}"},
		{"unknown escape", `{"sub":"\x41"}`},
		{"escaped single quote", `{"sub":"\'"}`},
		{"short unicode escape", `{"sub":"\u12"}`},
		{"non-hex unicode escape", `{"x":"\u12g4"}`},
		{"capital U escape", `{"sub":"\U0041"}`},
		{"backslash at the end", `{"sub":"\`},
		{"nesting beyond 10000 levels", `{"x":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Claims
			if err := c.unmarshal(tt.payload); err == nil {
				t.Fatalf("claims %q decoded", tt.payload)
			}
			var h JWTHeader
			if err := h.decode(tt.payload, new(tokenStore)); err == nil {
				t.Fatalf("header %q decoded", tt.payload)
			}
			checkSameAsReference(t, []byte(tt.payload))
		})
	}
}

func TestDecodeRefusesKnownKeyOfWrongType(t *testing.T) {
	for _, payload := range []string{
		`{"sub":5}`, `{"iss":true}`, `{"sid":["a"]}`, `{"azp":{}}`, `{"sts":1}`, `{"fea":["o:a"]}`,
		`{"exp":"1700000000"}`, `{"nbf":true}`, `{"iat":{}}`, `{"exp":[1]}`,
		`{"exp":1e400}`, `{"exp":-1e400}`, `{"iat":1e309}`,
		`{"o":"org_1"}`, `{"o":[]}`, `{"o":{"id":1}}`, `{"o":{"fpm":3}}`, `{"act":true}`, `{"act":{"sub":null,"type":1}}`,
		`{"org_permissions":"org:a:read"}`, `{"org_permissions":{}}`, `{"org_permissions":[1]}`, `{"org_permissions":[["a"]]}`,
		`{"sub":"ok","sub":5}`, `{"exp":1,"exp":"1"}`, `{"o":{"id":"a"},"o":{"id":1}}`, `{"o":{"id":1,"slg":"a"}}`,
		`{"exp":"","sub":1,"exp":2}`, `{"act":{"sub":1,"sub":"a","type":2}}`,
	} {
		t.Run(payload, func(t *testing.T) {
			var c Claims
			err := c.unmarshal(payload)
			if err == nil {
				t.Fatalf("decoded to %+v", c)
			}
			checkSameAsReference(t, []byte(payload))
		})
	}
	for _, header := range []string{`{"alg":256}`, `{"kid":null,"alg":["RS256"]}`, `{"typ":1}`, `{"cat":{}}`} {
		if err := new(JWTHeader).decode(header, new(tokenStore)); err == nil {
			t.Errorf("header %s decoded", header)
		}
	}
}

// A duplicate key replaces the earlier value, as in JSON.parse, so a value
// of the wrong type followed by one of the right type decodes.
func TestDecodeKeepsTheLastOfDuplicateKeys(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		check   func(c *Claims) bool
	}{
		{"wrong type then number", `{"exp":"","exp":0}`, func(c *Claims) bool { return c.Expiry != nil && *c.Expiry == 0 }},
		{"wrong type then null", `{"sub":1,"sub":null}`, func(c *Claims) bool { return c.Subject == "" }},
		{"out of range then number", `{"iat":1e400,"iat":5}`, func(c *Claims) bool { return c.IssuedAt != nil && *c.IssuedAt == 5 }},
		{"bad array then array", `{"org_permissions":[1],"org_permissions":["a"]}`, func(c *Claims) bool { return len(c.OrgPermissions) == 1 && c.OrgPermissions[0] == "a" }},
		{"bad nested member then good object", `{"o":{"id":1},"o":{"id":"org_1"}}`, func(c *Claims) bool { return c.Org != nil && c.Org.ID == "org_1" }},
		{"bad nested member then null", `{"o":{"id":1},"o":null}`, func(c *Claims) bool { return c.Org == nil }},
		{"duplicate inside the nested object", `{"o":{"id":1,"id":"org_2"}}`, func(c *Claims) bool { return c.Org != nil && c.Org.ID == "org_2" }},
		{"other keys between", `{"exp":"x","sub":"u","exp":7}`, func(c *Claims) bool { return c.Subject == "u" && *c.Expiry == 7 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Claims
			if err := c.unmarshal(tt.payload); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.check(&c) {
				t.Fatalf("decoded to %+v", c)
			}
			checkSameAsReference(t, []byte(tt.payload))
		})
	}
	if err := new(JWTHeader).decode(`{"typ":1,"typ":"JWT"}`, new(tokenStore)); err != nil {
		t.Errorf("header with a replaced typ refused: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestDecodeClaims(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Claims
	}{
		{
			name:    "JSON whitespace anywhere between tokens",
			payload: " \t\r\n{ \"sub\" :\n\"user_1\"\t,\r\"exp\" : 1 } \n",
			want:    Claims{Subject: "user_1", Expiry: ptr(1.0)},
		},
		{
			name:    "unknown claims of every type are skipped",
			payload: `{"a":{"b":[1,-2.5e-3,true,false,null,"\"}]",{}]},"sub":"u","z":[]}`,
			want:    Claims{Subject: "u"},
		},
		{
			name:    "fva: two factor ages",
			payload: `{"fva":[0,-1],"sub":"u"}`,
			want:    Claims{Subject: "u", FactorAge: FactorAge{First: 0, Second: -1, Valid: true}},
		},
		{
			name:    "fva: anything else is read as invalid, never an error",
			payload: `{"fva":[1,2,3],"sub":"u","fva2":0}`,
			want:    Claims{Subject: "u"},
		},
		{
			name:    "fva: a negative age other than -1 is invalid",
			payload: `{"fva":[-2,5],"sub":"u"}`,
			want:    Claims{Subject: "u"},
		},
		{
			name:    "fva: a string is invalid",
			payload: `{"fva":"[1,2]","sub":"u"}`,
			want:    Claims{Subject: "u"},
		},
		{
			name:    "an unknown claim out of float64 range is no error",
			payload: `{"x":1e400,"exp":2}`,
			want:    Claims{Expiry: ptr(2.0)},
		},
		{
			name:    "null leaves every field at its zero value",
			payload: `{"sub":null,"exp":null,"act":null,"o":null,"org_permissions":null,"fea":null}`,
			want:    Claims{},
		},
		{
			name:    "null after a value clears it: the last key wins",
			payload: `{"sub":"a","exp":1,"o":{"id":"org_1"},"sub":null,"exp":null,"o":null}`,
			want:    Claims{},
		},
		{
			name:    "a repeated key takes the last value",
			payload: `{"sub":"a","sub":"b","exp":1,"exp":2}`,
			want:    Claims{Subject: "b", Expiry: ptr(2.0)},
		},
		{
			name:    "a repeated object replaces, not merges, as in JSON.parse",
			payload: `{"o":{"id":"org_1","rol":"admin"},"o":{"slg":"acme"},"act":{"sub":"x"},"act":{"type":"impersonation"}}`,
			want:    Claims{Org: &OrgClaim{Slug: "acme"}, Actor: &Actor{Type: "impersonation"}},
		},
		{
			name:    "keys match case-sensitively, as in JSON.parse",
			payload: `{"SUB":"x","Sub":"y","ſub":"z","EXP":1,"o":{"ID":"a","Id":"b"}}`,
			want:    Claims{Org: &OrgClaim{}},
		},
		{
			name:    "an escaped key matches",
			payload: `{"s\u0075b":"user_1"}`,
			want:    Claims{Subject: "user_1"},
		},
		{
			name:    "escapes are decoded",
			payload: `{"sub":"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac"}`,
			want:    Claims{Subject: "\"\\/\b\f\n\r\tAé€"},
		},
		{
			name:    "a surrogate pair is one rune",
			payload: `{"sub":"\ud83d\ude00\uDBFF\uDFFF"}`,
			want:    Claims{Subject: "😀\U0010FFFF"},
		},
		{
			name:    "lone surrogates become U+FFFD",
			payload: `{"sub":"\ud83d|\ude00|\ud83d\u0041|\ud83d\ud83d\ude00"}`,
			want:    Claims{Subject: "\uFFFD|\uFFFD|\uFFFDA|\uFFFD😀"},
		},
		{
			name:    "each byte of invalid UTF-8 becomes U+FFFD",
			payload: "{\"sub\":\"a\xff\xfeb\xed\xa0\x80\xc0\xaf\"}",
			want:    Claims{Subject: "a\uFFFD\uFFFDb\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD"},
		},
		{
			name:    "v keeps its JSON text",
			payload: `{"v": 2 }`,
			want:    Claims{Version: "2"},
		},
		{
			name:    "v as a string keeps its quotes",
			payload: `{"v":"2"}`,
			want:    Claims{Version: `"2"`},
		},
		{
			name:    "v null is the text null",
			payload: `{"v":null}`,
			want:    Claims{Version: "null"},
		},
		{
			name:    "org_permissions: empty array is not nil, null element is empty",
			payload: `{"org_permissions":[],"org_permissions":["a", null ,"b"]}`,
			want:    Claims{OrgPermissions: []string{"a", "", "b"}},
		},
		{
			name:    "every claim",
			payload: `{"iss":"https://clerk.example.com","sub":"user_1","sid":"sess_1","azp":"https://app.example.com","exp":3,"nbf":1,"iat":2,"sts":"pending","act":{"sub":"user_2","iss":"i","sid":"sess_2","type":"impersonation"},"v":2,"org_id":"org_v1","org_slug":"s1","org_role":"org:r1","org_permissions":["org:a:b"],"o":{"id":"org_1","slg":"acme","rol":"admin","per":"read","fpm":"1"},"fea":"o:a"}`,
			want: Claims{Issuer: "https://clerk.example.com", Subject: "user_1", SessionID: "sess_1", AuthorizedParty: "https://app.example.com",
				Expiry: ptr(3.0), NotBefore: ptr(1.0), IssuedAt: ptr(2.0), Status: "pending",
				Actor:   &Actor{Subject: "user_2", Issuer: "i", SessionID: "sess_2", Type: "impersonation"},
				Version: "2", OrgID: "org_v1", OrgSlug: "s1", OrgRole: "org:r1", OrgPermissions: []string{"org:a:b"},
				Org: &OrgClaim{ID: "org_1", Slug: "acme", Role: "admin", Permissions: "read", FeaturePermissionMap: "1"}, Features: "o:a"},
		},
		{
			name:    "nesting of exactly 10000 levels is accepted, as by encoding/json",
			payload: `{"x":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `}`,
			want:    Claims{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Claims
			if err := c.unmarshal(tt.payload); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Fatalf("got  %s\nwant %s", dumpClaims(&c), dumpClaims(&tt.want))
			}
			checkSameAsReference(t, []byte(tt.payload))
		})
	}
}

func TestDecodeNumbersAsParseFloat(t *testing.T) {
	tests := []struct {
		json string
		want float64
	}{
		{"0", 0},
		{"-0", math.Copysign(0, -1)},
		{"-0.0e+0", math.Copysign(0, -1)},
		{"1700000000", 1700000000},
		{"1.5E2", 150},
		{"9007199254740993", 9007199254740992}, // rounds like JavaScript
		{"1e-400", 0},                          // underflow is not an error
		{"1.7976931348623157e308", math.MaxFloat64},
		{"123456789012345678901234567890", 1.2345678901234568e29},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			var c Claims
			if err := c.unmarshal(`{"exp":` + tt.json + `}`); err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(*c.Expiry) != math.Float64bits(tt.want) {
				t.Fatalf("got %v, want %v", *c.Expiry, tt.want)
			}
		})
	}
}

func TestDecodeHeader(t *testing.T) {
	tests := []struct {
		name, header string
		want         JWTHeader
	}{
		{"Clerk session token header", `{"alg":"RS256","cat":"cl_B7d4PD111AAA","kid":"ins_1","typ":"JWT"}`,
			JWTHeader{Alg: "RS256", Kid: "ins_1", Typ: ptr("JWT"), Cat: ptr(CategorySession)}},
		{"keys from the token are ignored", `{"alg":"RS256","jwk":{"kty":"RSA","n":"x","e":"AQAB"},"jku":"https://evil.example","x5c":["a"]}`,
			JWTHeader{Alg: "RS256"}},
		// JSON.parse's null is not undefined: the SDK refuses typ null
		// and counts cat null as a non-session category.
		{"null typ and cat are present and empty", `{"typ":"JWT","typ":null,"cat":null}`, JWTHeader{Typ: ptr(""), Cat: ptr("")}},
		{"empty typ is present", `{"typ":""}`, JWTHeader{Typ: ptr("")}},
		{"ALG is not alg", `{"ALG":"none","Alg":"none"}`, JWTHeader{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h JWTHeader
			if err := h.decode(tt.header, new(tokenStore)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Fatalf("got %+v, want %+v", h, tt.want)
			}
			checkSameAsReference(t, []byte(tt.header))
		})
	}
}

// TestDecodeJWTAllocations pins the point of the hand-rolled decoder: a
// typical v2 token costs two allocations (the decoded JSON, and the JWT
// with its signature and pointer fields' values), not one per field.
func TestDecodeJWTAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	token := signedTestToken(t)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeJWT(token); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Fatalf("DecodeJWT: %v allocations, want 2", allocs)
	}
}

// signedTestToken is a realistic v2 token; its signature is not checked.
func signedTestToken(t *testing.T) string {
	t.Helper()
	payload := `{"azp":"https://app.example.com","exp":1700000060,"fea":"o:invoices,o:reports,u:profile","fva":[0,-1],"iat":1700000000,"iss":"https://clerk.example.com","jti":"abc","nbf":1699999990,"o":{"fpm":"3,1","id":"org_2abc","per":"read,manage,delete","rol":"admin","slg":"acme"},"sid":"sess_2abc","sts":"active","sub":"user_2abc","v":2}`
	header := `{"alg":"RS256","cat":"cl_B7d4PD111AAA","kid":"ins_2abc","typ":"JWT"}`
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	return enc(header) + "." + enc(payload) + "." + enc(strings.Repeat("s", 256))
}
