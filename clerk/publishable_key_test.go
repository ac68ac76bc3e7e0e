package clerk

import "testing"

func TestParsePublishableKey(t *testing.T) {
	tests := []struct {
		name, key, host string
		production, ok  bool
	}{
		{"development key without padding", "pk_test_ZXhhbXBsZS5hY2NvdW50cy5kZXYk", "example.accounts.dev", false, true},
		{"production key with padding", "pk_live_ZmFrZS1jbGVyay10ZXN0LmNsZXJrLmFjY291bnRzLmRldiQ=", "fake-clerk-test.clerk.accounts.dev", true, true},
		{"missing dollar", "pk_test_ZXhhbXBsZS5jb20", "", false, false},
		{"no dot in host", "pk_test_bG9jYWxob3N0JA", "", false, false},
		{"two dollars", "pk_test_YSQuYiQ", "", false, false},
		{"wrong prefix", "sk_test_ZXhhbXBsZS5hY2NvdW50cy5kZXYk", "", false, false},
		{"four parts", "pk_test_x_ZXhhbXBsZS5hY2NvdW50cy5kZXYk", "", false, false},
		{"not base64", "pk_test_!!!", "", false, false},
		{"empty", "", "", false, false},
		{"host with a slash", "pk_live_ZXZpbC5jb20vYSQ", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pk, err := ParsePublishableKey(tt.key)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (pk.FAPIHost != tt.host || pk.Production != tt.production || pk.Raw != tt.key) {
				t.Fatalf("got %+v", pk)
			}
		})
	}
}

func TestCookieSuffixMatchesClerkVectors(t *testing.T) {
	vectors := map[string]string{
		"pk_live_ZmFrZS1jbGVyay10ZXN0LmNsZXJrLmFjY291bnRzLmRldiQ=":             "qReyu04C",
		"pk_test_Y2xlcmsuY2xlcmsuZGV2JA":                                       "QvfNY2dr",
		"pk_test_ZW5vdWdoLWFscGFjYS04Mi5jbGVyay5hY2NvdW50cy5sY2xjbGVyay5jb20k": "jtYvyt_H",
	}
	for key, want := range vectors {
		if got := CookieSuffix(key); got != want {
			t.Errorf("CookieSuffix(%s) = %s, want %s", key, got, want)
		}
	}
}

func TestAccountsBaseURL(t *testing.T) {
	tests := map[string]string{
		"x-y-1.clerk.accounts.dev": "https://x-y-1.accounts.dev",
		"clerk.example.com":        "https://accounts.example.com",
	}
	for in, want := range tests {
		if got := AccountsBaseURL(in); got != want {
			t.Errorf("AccountsBaseURL(%s) = %s, want %s", in, got, want)
		}
	}
}
