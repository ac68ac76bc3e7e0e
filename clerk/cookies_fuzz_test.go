package clerk

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// refCookie is the npm "cookie" package's parse, written out differently
// from Cookies.Get: split every pair, keep the first of each name.
func refCookie(header, name string) (string, bool) {
	for _, pair := range strings.Split(header, ";") {
		eq := strings.Index(pair, "=")
		if eq < 0 {
			continue
		}
		if strings.Trim(pair[:eq], " \t") != name {
			continue
		}
		v := strings.Trim(pair[eq+1:], " \t")
		if strings.IndexByte(v, '%') >= 0 {
			if d, err := url.PathUnescape(v); err == nil && utf8.ValidString(d) {
				v = d
			}
		}
		return v, true
	}
	return "", false
}

// FuzzCookies: the cookie reader never panics, agrees with the reference
// reader above, and never finds a name holding ";" or "=" (no pair can).
func FuzzCookies(f *testing.F) {
	f.Add("__session=a.b.c; __client_uat=1", "__session")
	f.Add(`__session="a.b.c"`, "__session")
	f.Add("__session=%61.b.c", "__session")
	f.Add("__session=%zz; __session=second", "__session")
	f.Add("__session=%C0%AF", "__session")
	f.Add(" \t__session \t= \tx \t;", "__session")
	f.Add("=x;__session", "")
	f.Add("a=b=c", "a")
	f.Fuzz(func(t *testing.T, header, name string) {
		c := ParseCookies([]string{header})
		got, ok := c.Get(name)
		want, wantOK := refCookie(header, name)
		if got != want || ok != wantOK {
			t.Fatalf("Get(%q) on %q = %q, %v; reference %q, %v", name, header, got, ok, want, wantOK)
		}
		if c.Value(name) != got {
			t.Fatal("Value disagrees with Get")
		}
		// GetAll agrees with Get for each name, the same name twice and
		// names around it included.
		names := []string{"__session", name, "__client_uat", name, ""}
		values, found := make([]string, len(names)), make([]bool, len(names))
		c.GetAll(names, values, found)
		for i, n := range names {
			if v, ok := c.Get(n); values[i] != v || found[i] != ok {
				t.Fatalf("GetAll(%q) on %q = %q, %v; Get %q, %v", n, header, values[i], found[i], v, ok)
			}
		}
		if ok && strings.ContainsAny(name, ";=") {
			t.Fatalf("found a cookie named %q", name)
		}
		// Two header lines read as one joined with "; ".
		two := ParseCookies([]string{header, name + "=later"})
		if v, ok2 := two.Get(name); ok && (v != got || !ok2) {
			t.Fatalf("a second Cookie line changed the first value: %q → %q", got, v)
		}
	})
}
