// Package redistest starts a real redis-server for tests: one per test, on
// a free 127.0.0.1 port, without persistence, killed at the test's
// cleanup. Without redis-server the test is skipped, or fails under
// CI=true (where it must run). REDIS_SERVER_PATH names the binary when it
// is not redis-server on PATH (valkey-server works too).
package redistest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ServerPath is the redis-server binary, or skips t (fails it under CI=true).
func ServerPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("REDIS_SERVER_PATH"); p != "" {
		return p
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found: install it (apt-get install redis-server) or set REDIS_SERVER_PATH")
		}
		t.Skip("redis-server not found (apt-get install redis-server, or set REDIS_SERVER_PATH)")
	}
	return p
}

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	path string
	args []string
	dir  string
	tls  bool
	conf string // a Sentinel's configuration file; "" for a Redis server
	Addr string // 127.0.0.1:port

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start runs a redis-server with extra arguments (e.g. "--requirepass",
// "secret") and waits until it answers; it is killed at t's cleanup.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return start(t, false, args, nil)
}

// StartTLS runs a redis-server that speaks TLS only, with the PEM
// certificate and key given (clients are not asked for certificates).
func StartTLS(t testing.TB, certFile, keyFile string, args ...string) *Server {
	t.Helper()
	return start(t, true, append([]string{"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-auth-clients", "no"}, args...), nil)
}

// start runs a server; sentinelConf, when not nil, writes a Sentinel's
// configuration file into the server's directory and returns its path.
func start(t testing.TB, tls bool, args []string, sentinelConf func(dir string) string) *Server {
	t.Helper()
	path := ServerPath(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &Server{t: t, path: path, args: args, dir: t.TempDir(), tls: tls, Addr: addr}
	if sentinelConf != nil {
		s.conf = sentinelConf(s.dir)
	}
	t.Cleanup(s.Kill)
	s.Restart()
	return s
}

// StartSentinel runs a Redis Sentinel (redis-server --sentinel) that
// monitors the master at masterAddr (password: its requirepass, "" for
// none) under the name master, as the only sentinel (quorum 1), quick to
// notice a failure and to fail over; it is killed at t's cleanup.
func StartSentinel(t testing.TB, master, masterAddr, password string) *Server {
	t.Helper()
	host, port, err := net.SplitHostPort(masterAddr)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, false, nil, func(dir string) string {
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 1\nsentinel down-after-milliseconds %[1]s 500\nsentinel failover-timeout %[1]s 5000\n", master, host, port)
		if password != "" {
			body += fmt.Sprintf("sentinel auth-pass %s %s\n", master, password)
		}
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return conf
	})
	return s
}

// URL is redis://Addr, or rediss://Addr for a TLS server.
func (s *Server) URL() string {
	if s.tls {
		return "rediss://" + s.Addr
	}
	return "redis://" + s.Addr
}

// Kill stops the server at once (SIGKILL, as a crash would); a stopped
// server stays stopped.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port (after Kill; empty,
// as nothing is persisted) and waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("redistest: Restart of a running server")
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	ports := []string{"--port", port}
	if s.tls {
		ports = []string{"--port", "0", "--tls-port", port}
	}
	var args []string
	if s.conf != "" {
		// A Sentinel takes its (rewritable) file first and no persistence options.
		args = append([]string{s.conf, "--sentinel"}, ports...)
		args = append(args, "--bind", "127.0.0.1", "--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	} else {
		args = append(ports, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	}
	args = append(args, s.args...)
	cmd := exec.Command(s.path, args...) //nolint:gosec // the test's own redis-server
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = logf.Close() }()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start %s: %v", s.path, err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping(s.Addr, s.tls)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redistest: redis-server on %s did not answer: %v\n%s", s.Addr, err, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends PING and expects +PONG, or -NOAUTH from a server with a
// password (it is up).
func ping(addr string, useTLS bool) error {
	var c net.Conn
	var err error
	if useTLS {
		// Only "is it up": the test's client verifies the certificate.
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe, see above
	} else {
		c, err = net.DialTimeout("tcp", addr, time.Second)
	}
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING answered %q", line)
}
