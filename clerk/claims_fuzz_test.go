package clerk

import (
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var refDigits = regexp.MustCompile(`^[0-9]+$`)

// refTrimJS is String.prototype.trim from ECMA-262's list: WhiteSpace
// (TAB, VT, FF, SP, NBSP, ZWNBSP and category Zs) and LineTerminator.
func refTrimJS(s string) string {
	return strings.Trim(s, "\t\v\f \u00a0\ufeff\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\n\r\u2028\u2029")
}

// refPermissions is @clerk/shared buildOrgPermissions written from the
// JavaScript, with math/big in place of its digit-string long division:
// each mask becomes its binary digits, least significant first.
func refPermissions(features []string, per, fpm string) []string {
	if per == "" || fpm == "" {
		return nil
	}
	perms := strings.Split(per, ",")
	for i := range perms {
		perms[i] = refTrimJS(perms[i])
	}
	var bitsPerFeature [][]int
	for _, m := range strings.Split(fpm, ",") {
		m = refTrimJS(m)
		if !refDigits.MatchString(m) {
			bitsPerFeature = append(bitsPerFeature, nil)
			continue
		}
		n, _ := new(big.Int).SetString(m, 10)
		bin := n.Text(2)
		bits := make([]int, len(bin))
		for i := range bin {
			bits[len(bin)-1-i] = int(bin[i] - '0')
		}
		bitsPerFeature = append(bitsPerFeature, bits)
	}
	var out []string
	for fi, feature := range features {
		if fi >= len(bitsPerFeature) {
			continue
		}
		bits := bitsPerFeature[fi]
		for pi := 0; pi < len(bits) && pi < len(perms); pi++ {
			if bits[pi] == 1 {
				out = append(out, "org:"+feature+":"+perms[pi])
			}
		}
	}
	return out
}

// refOrgFeatures is splitByScope's org half; ok=false where it throws.
func refOrgFeatures(fea string) ([]string, bool) {
	if fea == "" {
		return nil, true
	}
	var org []string
	for _, part := range strings.Split(fea, ",") {
		part = refTrimJS(part)
		i := strings.Index(part, ":")
		if i < 0 {
			return nil, false
		}
		if s := part[:i]; s == "o" || s == "ou" || s == "uo" {
			org = append(org, part[i+1:])
		}
	}
	return org, true
}

// FuzzActiveOrganization: arbitrary fea/per/fpm/rol never panic, a
// malformed fea is an error (the SDK throws), and the permissions equal the
// reference decoding.
func FuzzActiveOrganization(f *testing.F) {
	f.Add("o:dashboard,o:teams", "manage,read", "3,2", "admin")
	f.Add("o:repositories,o:projects", "read,create,update,delete,revoke", "7,21", "member")
	f.Add("o:a,uo:b,u:c", "x,y", "1,2,3", "")
	f.Add("nocolon", "x", "1", "admin")
	f.Add("o:a", "x", "-1", "admin")
	f.Add("o:a", "x", "1e3", "admin")
	f.Add("o:a", "x", "0x1", "admin")
	f.Add("o:a", "a,b,c", "18446744073709551617", "admin")
	f.Add("o:a", "a", "99999999999999999999999999999999999999999999999999", "admin")
	f.Add("o:a,o:b", " a , b ", " 3 ,, 1", "admin")
	f.Add("o:a", "a", "١", "admin")                                                          // Arabic-Indic digit one: not a digit to the SDK
	f.Add("\ufeffo:a\u3000, o:b\u0085", "\u00a0a\u2028,b\u0085", "\ufeff3\u2029,1", "admin") // JS trims U+FEFF, not U+0085
	f.Add("o:a", "a", "18446744073709551615", "admin")                                       // 2^64-1: the largest uint64
	f.Add("o:a", "a", "18446744073709551616", "admin")                                       // 2^64: math/big
	f.Add("o:a", "a", "000000000000000000000000000000000000000001", "admin")
	f.Fuzz(func(t *testing.T, fea, per, fpm, rol string) {
		for _, m := range strings.Split(fpm, ",") {
			checkMaskPaths(t, refTrimJS(m))
		}
		c := Claims{Version: "2", Features: fea, Org: &OrgClaim{ID: "org_1", Role: rol, Permissions: per, FeaturePermissionMap: fpm}}
		org, err := c.ActiveOrganization()
		features, ok := refOrgFeatures(fea)
		if !ok {
			if err == nil {
				t.Fatalf("fea %q should be refused", fea)
			}
			return
		}
		if err != nil {
			t.Fatalf("fea %q refused: %v", fea, err)
		}
		want := refPermissions(features, per, fpm)
		if len(want) == 0 && len(org.Permissions) == 0 {
			return
		}
		if !slices.Equal(org.Permissions, want) {
			t.Fatalf("fea %q per %q fpm %q: got %q, reference %q", fea, per, fpm, org.Permissions, want)
		}
		if rol != "" && org.Role != "org:"+rol {
			t.Fatalf("role %q", org.Role)
		}
	})
}

// FuzzClaimsJSON: any payload JSON either fails to decode or yields claims
// whose organization mapping does not panic; v1 tokens take the v1 claims.
func FuzzClaimsJSON(f *testing.F) {
	f.Add([]byte(`{"v":2,"o":{"id":"org_1","rol":"admin","per":"read","fpm":"1"},"fea":"o:x"}`))
	f.Add([]byte(`{"org_id":"org_1","org_role":"org:admin","org_permissions":["org:x:read"]}`))
	f.Add([]byte(`{"exp":1e308,"nbf":-1,"iat":"1"}`))
	f.Add([]byte(`{"exp":NaN}`))
	f.Add([]byte(`{"v":"2","o":{"id":"org_1"}}`))
	f.Add([]byte(`{"o":null,"act":{"sub":1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var c Claims
		if err := c.unmarshal(string(payload)); err != nil {
			return
		}
		org, err := c.ActiveOrganization()
		if err != nil {
			return
		}
		if !c.IsV2() && c.OrgID == "" && org != nil {
			t.Fatal("v1 claims without org_id gave an organization")
		}
		if c.IsV2() && c.Org == nil && org != nil {
			t.Fatal("v2 claims without o gave an organization")
		}
	})
}

// checkMaskPaths compares parseMask, which takes a uint64 path when the
// mask fits, with math/big on every bit.
func checkMaskPaths(t *testing.T, s string) {
	t.Helper()
	m, ok := parseMask(s)
	want, wantOK := new(big.Int), refDigits.MatchString(s)
	if wantOK {
		want.SetString(s, 10)
	}
	if ok != wantOK {
		t.Fatalf("mask %q: ok %v, want %v", s, ok, wantOK)
	}
	if !ok {
		return
	}
	if fits := want.IsUint64(); fits != (m.big == nil) {
		t.Fatalf("mask %q: uint64 path %v, fits in 64 bits %v", s, m.big == nil, fits)
	}
	for j := 0; j < want.BitLen()+70; j++ {
		if m.bit(j) != (want.Bit(j) == 1) {
			t.Fatalf("mask %q bit %d: got %v", s, j, m.bit(j))
		}
	}
}
