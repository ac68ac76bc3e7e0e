//go:build e2e

package integrations

import (
	"fmt"
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
