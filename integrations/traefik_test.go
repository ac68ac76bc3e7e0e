//go:build e2e

package integrations

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestTraefik runs the scenario table through Traefik v3 (built from its Go
// module by traefik/build/build.sh) with traefik/traefik.yml and
// traefik/dynamic.yml.
func TestTraefik(t *testing.T) {
	runProxyScenarios(t, "traefik", dialectForwardAuth, traefikLauncher(t), scenarios)
}

// traefikLauncher finds the Traefik build (or skips the test) and returns
// how to start it.
func traefikLauncher(t *testing.T) launchFunc {
	bin := traefikBinary(t)
	return func(t *testing.T, svc *service, authAddr, appAddr string) string {
		return launchTraefik(t, bin, authAddr, appAddr, svc.Fake.CookieSuffix())
	}
}

// traefikBinary is TRAEFIK_BIN, else the cached build of the version pinned
// in traefik/build/go.mod.
func traefikBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TRAEFIK_BIN"); p != "" {
		return requireBinary(t, "TRAEFIK_BIN", "traefik")
	}
	m := regexp.MustCompile(`(?m)^require github\.com/traefik/traefik/v3 (\S+)$`).FindStringSubmatch(readConfig(t, "traefik/build/go.mod"))
	if m == nil {
		t.Fatal("traefik/build/go.mod: no traefik version")
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	bin := filepath.Join(cache, "clerk-forward-auth", "traefik-"+m[1])
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("traefik %s not built at %s: run integrations/traefik/build/build.sh (or integrations/run-e2e.sh)", m[1], bin)
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// launchTraefik starts Traefik with the user configs; suffix is the Clerk
// instance's cookie suffix, for addAuthCookiesToResponse.
func launchTraefik(t *testing.T, bin, authAddr, appAddr, suffix string) string {
	t.Helper()
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dynamic := writeFile(t, dir, "dynamic.yml", substitute(t, "traefik/dynamic.yml", readConfig(t, "traefik/dynamic.yml"),
		"auth.internal:8080", authAddr,
		"app.internal:3000", appAddr,
		"<suffix>", suffix,
	))
	static := writeFile(t, dir, "traefik.yml", substitute(t, "traefik/traefik.yml", readConfig(t, "traefik/traefik.yml"),
		`address: ":80"`, fmt.Sprintf("address: %q", listen),
		"/etc/traefik/dynamic.yml", dynamic,
	))
	p := startProcess(t, "traefik", []string{"HOME=" + dir}, bin, "--configFile="+static)
	p.waitListening(t, listen, 20*time.Second)
	base := "http://" + listen
	if isUp(authAddr) {
		waitChainReady(t, p, base)
	} else {
		waitRouted(t, p, base)
	}
	return base
}
