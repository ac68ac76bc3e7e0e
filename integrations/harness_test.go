//go:build e2e

package integrations

// Process, port and file helpers shared by every proxy's test.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz/authztest"
)

// inCI reports whether a missing proxy binary must fail the run instead of
// skipping it.
func inCI() bool { return os.Getenv("CI") == "true" }

// requireBinary finds a proxy binary: the environment variable env when set,
// else name on PATH or in the sbin directories (nginx lives in /usr/sbin).
// Missing: a failure under CI=true, a skip otherwise.
func requireBinary(t *testing.T, env, name string, extra ...string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", env, p, err)
		}
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range append([]string{"/usr/sbin/" + name, "/usr/local/sbin/" + name}, extra...) {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found (set %s, or run integrations/run-e2e.sh which installs it)", name, env)
	if inCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// repoRoot is the module root (two levels up from this file's package dir).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("runtime.Caller failed")
	}
	return filepath.Dir(filepath.Dir(file))
}

// integrationsDir is this package's directory, where the user configs live.
func integrationsDir(t testing.TB) string { return filepath.Join(repoRoot(t), "integrations") }

// freePort asks the kernel for a free 127.0.0.1 port. There is a small race
// between closing the probe listener and the proxy binding it; the proxies
// are started one at a time, so it does not bite in practice.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	// The proxy binds this port next; it must really be released.
	if err := ln.Close(); err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// errPermanent wraps an error that no amount of waiting will fix.
type errPermanent struct{ error }

// waitFor polls cond every 50 ms until it returns nil or timeout passes, or
// an errPermanent.
func waitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return nil
		}
		if _, ok := err.(errPermanent); ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// process is a child process (a proxy or the service) with captured output.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *authztest.LogBuffer
	done chan struct{}
	err  error // valid after done is closed
}

// startProcess starts bin with args and extra environment, in its own
// process group. Output is kept in memory and printed when the test fails.
// The process is stopped on cleanup (SIGTERM, then SIGKILL after 5 s).
func startProcess(t testing.TB, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, out: &authztest.LogBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("---- %s output ----\n%s---- end of %s output ----", name, p.out.String(), name)
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop terminates the process group and waits for it.
func (p *process) stop() {
	if p.exited() {
		return
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// waitListening waits for addr to accept connections, failing early with the
// output if the process dies first.
func (p *process) waitListening(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	err := waitFor(timeout, func() error {
		if p.exited() {
			return errPermanent{fmt.Errorf("%s exited: %v", p.name, p.err)}
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s not listening on %s: %v\n%s", p.name, addr, err, p.out.String())
	}
}

// substitute replaces placeholders in a user config; every key must occur,
// so a renamed placeholder in a config breaks the test instead of silently
// leaving a production address in place.
func substitute(t testing.TB, name, text string, pairs ...string) string {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatal("substitute: odd number of arguments")
	}
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("%s: placeholder %q not found", name, pairs[i])
		}
		text = strings.ReplaceAll(text, pairs[i], pairs[i+1])
	}
	return text
}

// readConfig reads a file under integrations/.
func readConfig(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(integrationsDir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeFile writes text to dir/rel, creating directories.
func writeFile(t testing.TB, dir, rel, text string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitChainReady waits until an anonymous API request through the proxy is
// answered 401 by the service, i.e. proxy, routes and service are all up
// (Traefik, for one, serves 404 until its file provider has loaded).
func waitChainReady(t testing.TB, p *process, base string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	err := waitFor(30*time.Second, func() error {
		if p != nil && p.exited() {
			return errPermanent{fmt.Errorf("%s exited: %v", p.name, p.err)}
		}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/", nil)
		req.Host = publicHost
		req.Header.Set("Accept", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		last = res.Status
		if res.StatusCode != http.StatusUnauthorized {
			return errors.New("status " + res.Status)
		}
		return nil
	})
	if err != nil {
		out := ""
		if p != nil {
			out = p.out.String()
		}
		t.Fatalf("chain through %s not ready (last %s): %v\n%s", base, last, err, out)
	}
}

// isUp reports whether something accepts connections on addr right now.
func isUp(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// waitRouted waits until the proxy answers something other than 404 for the
// public host (Traefik answers 404 until its file provider has loaded).
func waitRouted(t testing.TB, p *process, base string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	err := waitFor(30*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.Host = publicHost
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode == http.StatusNotFound {
			return errors.New("404: routes not loaded")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", p.name, err, p.out.String())
	}
}

// launchFunc starts a proxy with the user configs, its auth address and app
// address substituted, and returns its base URL.
type launchFunc func(t *testing.T, svc *service, authAddr, appAddr string) string

// runEveryProxy runs table through NGINX, Traefik, Caddy and the Envoy
// emulators (HTTP and gRPC mode), each with its shipped configuration, in
// front of a service of their own started with extraEnv: for settings the
// shared table does not run under.
func runEveryProxy(t *testing.T, table []scenario, extraEnv ...string) {
	for _, px := range []struct {
		name, dialect string
		launcher      func(*testing.T) launchFunc
	}{
		{"nginx", dialectAuthRequest, nginxLauncher},
		{"traefik", dialectForwardAuth, traefikLauncher},
		{"caddy", dialectForwardAuth, caddyLauncher},
	} {
		t.Run(px.name, func(t *testing.T) {
			runProxyScenarios(t, px.name, px.dialect, px.launcher(t), table, extraEnv...)
		})
	}
	t.Run("envoy", func(t *testing.T) { runEnvoyScenarios(t, table, extraEnv...) })
	t.Run("envoy-grpc", func(t *testing.T) { runEnvoyGRPCScenarios(t, table, extraEnv...) })
}

// runProxyScenarios is the body of every test that runs a real proxy
// binary: the service (started with extraEnv) behind an auth tap, the app,
// the proxy from launch, and a scenario table. launchDown reuses launch
// with an auth address where nothing listens.
func runProxyScenarios(t *testing.T, name, dialect string, launch launchFunc, table []scenario, extraEnv ...string) {
	svc := startService(t, extraEnv...)
	tap := startAuthTap(t, svc.URL)
	app := startUpstream(t)
	p := &proxyUnderTest{name: name, dialect: dialect, svc: svc, tap: tap, app: app}
	p.base = launch(t, svc, tap.addr, app.addr)
	p.launchDown = func(t *testing.T) string {
		return launch(t, svc, fmt.Sprintf("127.0.0.1:%d", freePort(t)), app.addr)
	}
	runScenarios(t, p, table)
}
