//go:build e2e

package integrations

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNGINX runs the scenario table through nginx with
// nginx/clerk-forward-auth.conf and its snippets, as a user installs them.
func TestNGINX(t *testing.T) {
	runProxyScenarios(t, "nginx", dialectAuthRequest, nginxLauncher(t), scenarios)
}

// nginxLauncher finds nginx (or skips the test) and returns how to start it.
func nginxLauncher(t *testing.T) launchFunc {
	bin := requireBinary(t, "NGINX_BIN", "nginx")
	return func(t *testing.T, _ *service, authAddr, appAddr string) string {
		return launchNGINX(t, bin, authAddr, appAddr)
	}
}

// launchNGINX writes the user config with the placeholders substituted,
// wrapped in a minimal nginx.conf (what /etc/nginx/nginx.conf provides),
// starts nginx in the foreground and returns its base URL.
func launchNGINX(t *testing.T, bin, authAddr, appAddr string) string {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	conf := substitute(t, "nginx/clerk-forward-auth.conf", readConfig(t, "nginx/clerk-forward-auth.conf"),
		"auth.internal:8080", authAddr,
		"app.internal:3000", appAddr,
		"listen 80;", "listen "+listen+";",
	)
	writeFile(t, dir, "conf.d/clerk-forward-auth.conf", conf)
	for _, s := range []string{"clerk-auth-request.conf", "clerk-protect.conf"} {
		writeFile(t, dir, filepath.Join("snippets", s), readConfig(t, filepath.Join("nginx/snippets", s)))
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the private temp dir
	}
	main := fmt.Sprintf(`%s
worker_processes 1;
daemon off;
master_process on;
pid %[2]s/nginx.pid;
error_log stderr notice;
events { worker_connections 256; }
http {
    access_log /dev/stdout;
    client_body_temp_path %[2]s/tmp/client_body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    include conf.d/clerk-forward-auth.conf;
}
`, user, dir)
	writeFile(t, dir, "nginx.conf", main)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "nginx", nil, bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr")
	p.waitListening(t, listen, 10*time.Second)
	base := "http://" + listen
	if authAddr != "" && isUp(authAddr) {
		waitChainReady(t, p, base)
	}
	return base
}

// TestNGINXOriginalURLNamesTheRoutedHost: nginx chooses the server block,
// and sends the app Host $host, from the request line's host when the
// request line is in absolute form, whatever the Host header says. The
// service must be asked about that host (its POLICY_FILE host rules, its
// satellite domains), not about the Host header the client wrote, and the
// port the browser used must survive for the redirects back.
func TestNGINXOriginalURLNamesTheRoutedHost(t *testing.T) {
	cases := []struct {
		name, target, host string
		wantURL, wantApp   string // X-Original-URL the service got; Host the app got
	}{
		{"absolute-form request line naming another host", "http://other.example.com/page", publicHost,
			"http://other.example.com/page", "other.example.com"},
		{"absolute-form request line, Host with a port", "http://other.example.com/page", publicHost + ":8443",
			"http://other.example.com:8443/page", "other.example.com"},
		{"origin-form, Host with a port", "/page", publicHost + ":8443",
			"http://" + publicHost + ":8443/page", publicHost},
		{"origin-form, bracketed IPv6 Host with a port", "/page", "[::1]:8443",
			"http://[::1]:8443/page", "[::1]"},
		{"origin-form, plain Host", "/page?q=1", publicHost,
			"http://" + publicHost + "/page?q=1", publicHost},
	}
	runProxyScenarios(t, "nginx", dialectAuthRequest, nginxLauncher(t), []scenario{{"original URL host", func(t *testing.T, p *proxyUnderTest) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tok := p.svc.token(p.svc.claims("user_routed"))
				r := sendRawRequestLine(t, p, c.target, c.host, "Authorization: Bearer "+tok)
				wantStatus(t, r, http.StatusOK)
				if len(r.auth) != 1 || len(r.app) != 1 {
					t.Fatalf("want one auth request and one app request\n%s", r)
				}
				if got := r.auth[0].Header.Get("X-Original-Url"); got != c.wantURL {
					t.Errorf("service was asked about %q, want %q", got, c.wantURL)
				}
				if got := r.app[0].Host; got != c.wantApp {
					t.Errorf("app got Host %q, want %q", got, c.wantApp)
				}
			})
		}
	}}})
}

// sendRawRequestLine sends GET target (written on the request line as is,
// absolute form included) with the Host header host, which net/http's
// client cannot make disagree with the request line.
func sendRawRequestLine(t *testing.T, p *proxyUnderTest, target, host string, extra ...string) result {
	t.Helper()
	u, err := url.Parse(p.base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	id := newTestID()
	req := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + testIDHeader + ": " + id + "\r\nAccept: application/json\r\nConnection: close\r\n"
	for _, h := range extra {
		req += h + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	_ = res.Body.Close()
	return result{id: id, status: res.StatusCode, header: res.Header, body: string(b), app: p.app.byID(id), auth: p.tap.byID(id)}
}
