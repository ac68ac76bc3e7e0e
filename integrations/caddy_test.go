//go:build e2e

package integrations

import (
	"fmt"
	"testing"
	"time"
)

// TestCaddy runs the scenario table through Caddy with caddy/Caddyfile.
func TestCaddy(t *testing.T) {
	runProxyScenarios(t, "caddy", dialectForwardAuth, caddyLauncher(t), scenarios)
}

// caddyLauncher finds caddy (or skips the test) and returns how to start it.
func caddyLauncher(t *testing.T) launchFunc {
	bin := requireBinary(t, "CADDY_BIN", "caddy")
	return func(t *testing.T, _ *service, authAddr, appAddr string) string {
		return launchCaddy(t, bin, authAddr, appAddr)
	}
}

// launchCaddy serves the user's site block over plain HTTP on a test port
// (the site address gets an http:// scheme and port, so no certificates are
// requested), with the admin endpoint off.
func launchCaddy(t *testing.T, bin, authAddr, appAddr string) string {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	site := substitute(t, "caddy/Caddyfile", readConfig(t, "caddy/Caddyfile"),
		"auth.internal:8080", authAddr,
		"app.internal:3000", appAddr,
		publicHost+" {", fmt.Sprintf("http://%s:%d {\n\tbind 127.0.0.1", publicHost, port),
	)
	global := "{\n\tadmin off\n\tauto_https off\n}\n\n"
	file := writeFile(t, dir, "Caddyfile", global+site)
	env := []string{"HOME=" + dir, "XDG_DATA_HOME=" + dir + "/data", "XDG_CONFIG_HOME=" + dir + "/config"}
	p := startProcess(t, "caddy", env, bin, "run", "--config", file, "--adapter", "caddyfile")
	p.waitListening(t, listen, 20*time.Second)
	base := "http://" + listen
	if isUp(authAddr) {
		waitChainReady(t, p, base)
	}
	return base
}
