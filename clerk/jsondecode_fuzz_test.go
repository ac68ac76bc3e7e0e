package clerk

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// refDecodeObject is the reference for the hand-rolled decoder, built from
// encoding/json with the two rules of JSON.parse that encoding/json lacks:
// keys match case-sensitively and a repeated key takes its last value,
// objects included; and a null typ or cat (the only *string fields) is
// present and "", and a null nbf or iat is marked as such. Each object is read into map[string]json.RawMessage
// (case-sensitive, last wins), then each known key's raw value, found by
// the struct's json tags, into its typed field with encoding/json. The top
// level must be an object; "v" keeps its JSON text.
func refDecodeObject(data []byte, v any) error {
	if s := strings.TrimLeft(string(data), " \t\r\n"); s == "" || s[0] != '{' {
		return errors.New("not an object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	rv := reflect.ValueOf(v).Elem()
	rv.SetZero()
	if c, ok := v.(*Claims); ok {
		// JSON.parse's null nbf or iat is not an absent one.
		c.nullNotBefore, c.nullIssuedAt = string(m["nbf"]) == "null", string(m["iat"]) == "null"
	}
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		raw, ok := m[name]
		if name == "" || !ok {
			continue
		}
		fv := rv.Field(i)
		switch {
		case name == "v" && f.Type.Kind() == reflect.String:
			fv.SetString(string(raw))
		case f.Type == reflect.TypeFor[*string]() && string(raw) == "null":
			fv.Set(reflect.ValueOf(new(string))) // the header's typ and cat: null is present, ""
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			if string(raw) == "null" {
				continue
			}
			p := reflect.New(f.Type.Elem())
			if err := refDecodeObject(raw, p.Interface()); err != nil {
				return err
			}
			fv.Set(p)
		default:
			if err := json.Unmarshal(raw, fv.Addr().Interface()); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameFloat compares two optional numbers bit for bit (-0 is not 0).
func sameFloat(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return math.Float64bits(*a) == math.Float64bits(*b)
}

// checkSameAsReference decodes data as a header and as claims with both
// decoders and fails on any difference: acceptance, or a field.
func checkSameAsReference(t *testing.T, data []byte) {
	t.Helper()
	var got, want Claims
	err := got.unmarshal(string(data))
	refErr := refDecodeObject(data, &want)
	if (err != nil) != (refErr != nil) {
		t.Fatalf("claims %q: error %v, reference error %v", data, err, refErr)
	}
	if err == nil {
		if !reflect.DeepEqual(got, want) || !sameFloat(got.Expiry, want.Expiry) ||
			!sameFloat(got.NotBefore, want.NotBefore) || !sameFloat(got.IssuedAt, want.IssuedAt) {
			t.Fatalf("claims %q:\n got %s\nwant %s", data, dumpClaims(&got), dumpClaims(&want))
		}
	}
	var gotH, wantH JWTHeader
	err = gotH.decode(string(data), new(tokenStore))
	refErr = refDecodeObject(data, &wantH)
	if (err != nil) != (refErr != nil) {
		t.Fatalf("header %q: error %v, reference error %v", data, err, refErr)
	}
	if err == nil && !reflect.DeepEqual(gotH, wantH) {
		t.Fatalf("header %q: got %+v, want %+v", data, gotH, wantH)
	}
}

func dumpClaims(c *Claims) string {
	b, _ := json.Marshal(struct {
		*Claims
		Act *Actor
		O   *OrgClaim
	}{c, c.Actor, c.Org})
	return string(b)
}

// claimsSeeds are payloads shaped like Clerk's, and the corners of JSON.
var claimsSeeds = []string{
	// v2 and v1 session tokens as Clerk issues them.
	`{"azp":"https://app.example.com","exp":1700000060,"fea":"o:dashboard,o:teams,u:gold","fva":[0,-1],"iat":1700000000,"iss":"https://clerk.example.com","jti":"a1b2c3","nbf":1699999990,"o":{"fpm":"3,2","id":"org_2abc","per":"manage,read","rol":"admin","slg":"acme"},"pla":"u:free","sid":"sess_2abc","sts":"active","sub":"user_2abc","v":2}`,
	`{"azp":"http://localhost:3000","exp":1700000060,"iat":1700000000,"iss":"https://clerk.example.com","nbf":1699999990,"org_id":"org_1","org_permissions":["org:a:read","org:b:manage"],"org_role":"org:admin","org_slug":"acme","sid":"sess_1","sub":"user_1"}`,
	`{"act":{"sub":"user_admin","iss":"https://dashboard.clerk.com","sid":"sess_x","type":"impersonation","extra":{"a":[1,2,{"b":null}]}},"sub":"user_1","exp":1,"v":2}`,
	`{"alg":"RS256","cat":"cl_B7d4PD111AAA","kid":"ins_2abc","typ":"JWT"}`,
	`{"alg":"RS256","typ":null,"cat":null,"jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}`,
	// Whitespace, escapes, duplicates, nulls, case.
	" \t\r\n{ \"sub\" : \"user_1\" , \"exp\" :\n1 } \r\n\t ",
	`{"sub":"\u0075ser_\"1\"\/\\\b\f\n\r\t","s\u0075b":"escaped key wins last"}`,
	`{"sub":"a","sub":"b","exp":1,"exp":null,"o":{"id":"x"},"o":{"slg":"y"},"act":{"sub":"z"},"act":null}`,
	`{"sub":null,"iss":null,"exp":null,"v":null,"o":null,"act":null,"org_permissions":null,"alg":null,"typ":null}`,
	`{"SUB":"x","Sub":"y","ſub":"z","EXP":1,"O":{"ID":"a"},"o":{"ID":"b","Id":"c"}}`,
	`{"org_permissions":[],"v":"2"}`,
	`{"org_permissions":["a",null,"b"],"v":2.0}`,
	`{"v": 2 ,"o":{}}`,
	`{"v":[2,{"x":"y"}]}`,
	// Numbers.
	`{"exp":-0,"nbf":0.0,"iat":-0.0e+0}`,
	`{"exp":1e400}`,
	`{"exp":-1e400}`,
	`{"exp":1e-400,"nbf":4.9e-324,"iat":2.4e-324}`,
	`{"exp":1.7976931348623157e308,"nbf":1.7976931348623159e308}`,
	`{"exp":123456789012345678901234567890,"unknown":1e99999}`,
	`{"exp":01}`, `{"exp":+1}`, `{"exp":.5}`, `{"exp":1.}`, `{"exp":1e}`, `{"exp":-}`, `{"exp":NaN}`, `{"exp":Infinity}`, `{"exp":0x10}`, `{"exp":1E+2}`,
	// Strings.
	`{"sub":"\ud83d\ude00"}`,
	`{"sub":"\ud83d"}`, `{"sub":"\ude00"}`, `{"sub":"\ud83d\u0041"}`, `{"sub":"\ud83d\ud83d\ude00"}`, `{"sub":"\uDBFF\uDFFF\uD800\uDC00"}`,
	"{\"sub\":\"\xff\xfe\"}", "{\"sub\":\"a\xed\xa0\x80b\"}", "{\"sub\":\"\xc0\xaf\"}", "{\"sub\":\"ok \xef\xbf\xbd\"}", "{\"\xff\":1}",
	"{\"sub\":\"a\x01\"}", "{\"x\":\"\n\"}", "{\"sub\":\"\x7f\"}",
	`{"sub":"\x"}`, `{"sub":"\u12"}`, `{"sub":"\U0041"}`, `{"sub":"\'"}`, `{"x":"\u004"}`, `{"x":"\q"}`,
	// Structure.
	`{}`, `[]`, `null`, `"x"`, `1`, `true`, ``, ` `, `{`, `}`, `{"sub"}`, `{"sub":}`, `{"sub":"a",}`, `{,"sub":"a"}`, `{"sub":"a" "exp":1}`,
	`{"sub":"a"} x`, `{"sub":"a"}{}`, "\v{}", "{}\f", "\u00a0{}", "\ufeff{}",
	`{"x":tru}`, `{"x":nul}`, `{"x":true,"y":false,"z":null}`, `{"x":[1,]}`, `{"x":[,1]}`, `{"x":{"a":1,}}`, `{"x":{"a" 1}}`, `{"x":{1:1}}`,
	// Wrong types.
	`{"sub":5}`, `{"sub":true}`, `{"sub":["a"]}`, `{"exp":"1"}`, `{"exp":true}`, `{"exp":{}}`, `{"o":"x"}`, `{"o":[]}`, `{"o":1}`, `{"act":"x"}`,
	`{"org_permissions":{}}`, `{"org_permissions":[1]}`, `{"org_permissions":"a"}`, `{"o":{"id":1}}`, `{"act":{"sub":false}}`, `{"alg":256}`, `{"typ":1}`, `{"cat":[]}`,
	// Nesting.
	`{"x":` + strings.Repeat(`[`, 64) + strings.Repeat(`]`, 64) + `}`,
	`{"x":` + strings.Repeat(`{"a":`, 64) + `1` + strings.Repeat(`}`, 64) + `}`,
	`{"x":` + strings.Repeat(`[`, 64) + strings.Repeat(`]`, 63) + `}`,
	`{"x":` + strings.Repeat(`[{}`, 3) + `]}`,
}

// FuzzDecodeJSONDifferential: on any bytes, the hand-rolled decoder accepts
// exactly what the reference accepts and decodes the same header and
// claims.
func FuzzDecodeJSONDifferential(f *testing.F) {
	for _, s := range claimsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameAsReference(t, data)
	})
}

// refDecodeJWT is DecodeJWT as it was with encoding/json: each part
// decoded on its own, then the reference JSON decoding.
func refDecodeJWT(token string) (*JWT, error) {
	if len(token) > maxTokenLength {
		return nil, errors.New("too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("form")
	}
	h, err1 := decodeSegment(parts[0])
	p, err2 := decodeSegment(parts[1])
	s, err3 := decodeSegment(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, errors.New("base64")
	}
	t := &JWT{Signature: s, signingInput: parts[0] + "." + parts[1], raw: token}
	if err := refDecodeObject(h, &t.Header); err != nil {
		return nil, err
	}
	if err := refDecodeObject(p, &t.Claims); err != nil {
		return nil, err
	}
	return t, nil
}

// FuzzDecodeJWTDifferential: whole tokens decode as with separate buffers
// per part: same acceptance, header, claims, signature and signing input.
func FuzzDecodeJWTDifferential(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	for i, s := range claimsSeeds {
		header := claimsSeeds[3]
		if i%5 == 0 {
			header = s
		}
		f.Add(enc([]byte(header)) + "." + enc([]byte(s)) + "." + enc([]byte("signature bytes")))
	}
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	f.Add("eyJhbGciOiJSUzI1NiJ9==.e30=.c2ln===")
	f.Add("eyJhbGciOiJSUzI1NiJ9\n.e3\r\n0.c2ln")
	f.Add("..")
	f.Add(".e30.")
	f.Fuzz(func(t *testing.T, token string) {
		got, err := DecodeJWT(token)
		want, refErr := refDecodeJWT(token)
		if (err != nil) != (refErr != nil) {
			t.Fatalf("token %q: error %v, reference error %v", token, err, refErr)
		}
		if err != nil {
			if ReasonOf(err) != ReasonTokenInvalid {
				t.Fatalf("reason %q", ReasonOf(err))
			}
			return
		}
		if !reflect.DeepEqual(got.Header, want.Header) || !reflect.DeepEqual(got.Claims, want.Claims) ||
			!sameFloat(got.Claims.Expiry, want.Claims.Expiry) ||
			string(got.Signature) != string(want.Signature) || got.signingInput != want.signingInput || got.raw != token {
			t.Fatalf("token %q decoded differently", token)
		}
	})
}
