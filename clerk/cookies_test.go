package clerk

import "testing"

func TestCookiesReadLikeClerk(t *testing.T) {
	tests := []struct {
		name, header, cookie, want string
		found                      bool
	}{
		{"first duplicate wins", "__session=a; __session=b", "__session", "a", true},
		{"names and values trimmed of spaces and tabs", " \t__session\t= a b \t;x=y", "__session", "a b", true},
		{"percent-decoded", "__session=a%20b", "__session", "a b", true},
		{"bad escape keeps the raw value", "__session=a%zzb", "__session", "a%zzb", true},
		{"double quotes are kept", `__session="tok"`, "__session", `"tok"`, true},
		{"pair without equals skipped", "junk; __session=v", "__session", "v", true},
		{"suffixed name is another cookie", "__session_abc=v", "__session", "", false},
		{"empty value is present", "__client_uat=", "__client_uat", "", true},
		{"missing", "a=b", "__session", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := ParseCookies([]string{tt.header}).Get(tt.cookie)
			if got != tt.want || found != tt.found {
				t.Fatalf("Get(%q) = %q, %v; want %q, %v", tt.cookie, got, found, tt.want, tt.found)
			}
		})
	}
}

func TestCookiesJoinsSeveralHeaderLines(t *testing.T) {
	c := ParseCookies([]string{"a=1", "__session=2"})
	if v := c.Value("__session"); v != "2" {
		t.Fatalf("got %q", v)
	}
}
