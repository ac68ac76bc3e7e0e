package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.1.2.3/8, fd00::/8 ,192.168.1.10", want: []string{"10.0.0.0/8", "fd00::/8", "192.168.1.10/32"}},
		{in: "::1", want: []string{"::1/128"}},
		{in: "10.0.0.0/8,", want: []string{"10.0.0.0/8"}},
		{in: ",", wantErr: true},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "10.0.0.0/8;172.16.0.0/12", wantErr: true},
		{in: "proxy.internal", wantErr: true},
		{in: "fe80::1%eth0", wantErr: true},
		{in: "0.0.0.0/0", want: []string{"0.0.0.0/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTrustedProxies(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i].String() != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestTrustedProxiesGateAuthEndpoints(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	h := NewRouter(Options{Engine: newAttackEnv(t, time.Second).engine, TrustedProxies: trusted})
	tests := []struct {
		name       string
		path       string
		remoteAddr string
		wantStatus int // for trusted peers: anything but 403 untrusted-proxy
		untrusted  bool
	}{
		{name: "forward-auth from outside", path: "/forward-auth", remoteAddr: "203.0.113.7:4000", untrusted: true},
		{name: "auth-request from outside", path: "/auth-request", remoteAddr: "203.0.113.7:4000", untrusted: true},
		{name: "ext-authz from outside", path: "/ext-authz/app", remoteAddr: "203.0.113.7:4000", untrusted: true},
		{name: "ext-authz prefix from outside", path: "/ext-authz", remoteAddr: "192.168.0.1:4000", untrusted: true},
		{name: "IPv6 outside the list", path: "/forward-auth", remoteAddr: "[2001:db8::1]:4000", untrusted: true},
		{name: "unparseable peer fails closed", path: "/forward-auth", remoteAddr: "@", untrusted: true},
		{name: "empty peer fails closed", path: "/forward-auth", remoteAddr: "", untrusted: true},
		{name: "X-Forwarded-For cannot vouch", path: "/forward-auth", remoteAddr: "203.0.113.7:4000", untrusted: true},
		{name: "forward-auth from a trusted proxy", path: "/forward-auth", remoteAddr: "10.1.2.3:4000", wantStatus: http.StatusUnauthorized},
		{name: "IPv4-mapped IPv6 peer inside", path: "/forward-auth", remoteAddr: "[::ffff:10.1.2.3]:4000", wantStatus: http.StatusUnauthorized},
		{name: "IPv6 peer inside", path: "/ext-authz/app", remoteAddr: "[fd00::5]:4000", wantStatus: http.StatusUnauthorized},
		{name: "healthz is exempt", path: "/healthz", remoteAddr: "203.0.113.7:4000", wantStatus: http.StatusOK},
		{name: "readyz is exempt", path: "/readyz", remoteAddr: "203.0.113.7:4000", wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.path, nil)
			r.RemoteAddr = tt.remoteAddr
			r.Host = "app.example.com"
			r.Header.Set("X-Forwarded-For", "10.0.0.1")
			r.Header.Set("X-Real-Ip", "10.0.0.1")
			r.Header.Set("X-Forwarded-Method", "GET")
			r.Header.Set("X-Forwarded-Proto", "https")
			r.Header.Set("X-Forwarded-Host", "app.example.com")
			r.Header.Set("X-Forwarded-Uri", "/")
			r.Header.Set("X-Original-Method", "GET")
			r.Header.Set("X-Original-Url", "https://app.example.com/")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if tt.untrusted {
				var body struct{ Error, Reason string }
				if w.Code != http.StatusForbidden || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error != "forbidden" || body.Reason != "untrusted-proxy" {
					t.Fatalf("got %d %s, want 403 forbidden/untrusted-proxy", w.Code, w.Body)
				}
				if w.Header().Get(HeaderUserID) != "" {
					t.Fatal("identity header on a refusal")
				}
				return
			}
			if w.Code != tt.wantStatus {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tt.wantStatus)
			}
		})
	}
}

func TestNoTrustedProxiesAcceptsEveryPeer(t *testing.T) {
	h := NewRouter(Options{Engine: newAttackEnv(t, time.Second).engine})
	r := httptest.NewRequest("GET", "/forward-auth", nil)
	r.RemoteAddr = "203.0.113.7:4000"
	r.Header.Set("X-Forwarded-Method", "GET")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "app.example.com")
	r.Header.Set("X-Forwarded-Uri", "/")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("got %d %s, want the engine's 401", w.Code, w.Body)
	}
}
