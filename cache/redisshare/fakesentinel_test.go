package redisshare_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeSentinel speaks as much of Redis Sentinel's protocol (RESP2) as a
// Store uses, so a test decides exactly when the master switches: it names
// one master, and announces a switch on +switch-master.
type fakeSentinel struct {
	Addr string
	name string

	mu       sync.Mutex
	master   string
	watchers []*fakeConn // subscribed to +switch-master
	// onWatch, when set, runs once, as a client subscribing to
	// +switch-master alone (a Store's watcher, not go-redis's own) is
	// read, before it is answered.
	onWatch func()
}

type fakeConn struct {
	mu sync.Mutex
	c  net.Conn
}

func (c *fakeConn) write(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.c, s)
}

func startFakeSentinel(t *testing.T, name, master string) *fakeSentinel {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSentinel{Addr: l.Addr().String(), name: name, master: master}
	var conns sync.WaitGroup
	var open sync.Map
	t.Cleanup(func() {
		_ = l.Close()
		open.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); return true })
		conns.Wait()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			open.Store(c, nil)
			conns.Go(func() {
				defer open.Delete(c)
				defer func() { _ = c.Close() }()
				f.serve(&fakeConn{c: c})
			})
		}
	}()
	return f
}

// setOnWatch sets onWatch.
func (f *fakeSentinel) setOnWatch(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onWatch = fn
}

// setMaster makes addr the master, telling no one.
func (f *fakeSentinel) setMaster(addr string) (old string, watchers []*fakeConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, f.master = f.master, addr
	return old, f.watchers
}

// switchMaster makes addr the master and announces it to the watchers.
func (f *fakeSentinel) switchMaster(addr string) {
	old, watchers := f.setMaster(addr)
	oh, op, _ := net.SplitHostPort(old)
	nh, np, _ := net.SplitHostPort(addr)
	msg := bulks("message", "+switch-master", strings.Join([]string{f.name, oh, op, nh, np}, " "))
	for _, w := range watchers {
		w.write(msg)
	}
}

func (f *fakeSentinel) serve(c *fakeConn) {
	rd := bufio.NewReader(c.c)
	subscribed := false
	for {
		args, err := readCommand(rd)
		if err != nil {
			return
		}
		switch cmd := strings.ToLower(args[0]); {
		case cmd == "ping" && subscribed:
			c.write(bulks("pong", ""))
		case cmd == "ping":
			c.write("+PONG\r\n")
		case cmd == "sentinel" && len(args) == 3 && strings.EqualFold(args[1], "get-master-addr-by-name") && args[2] == f.name:
			f.mu.Lock()
			host, port, _ := net.SplitHostPort(f.master)
			f.mu.Unlock()
			c.write(bulks(host, port))
		case cmd == "sentinel":
			c.write("*0\r\n") // no other sentinels, no replicas
		case cmd == "subscribe":
			subscribed = true
			if len(args) == 2 && args[1] == "+switch-master" {
				f.mu.Lock()
				hook := f.onWatch
				f.onWatch = nil
				f.mu.Unlock()
				if hook != nil {
					hook()
				}
				f.mu.Lock()
				f.watchers = append(f.watchers, c)
				f.mu.Unlock()
			}
			for i, ch := range args[1:] {
				c.write("*3\r\n" + bulk("subscribe") + bulk(ch) + ":" + strconv.Itoa(i+1) + "\r\n")
			}
		default:
			c.write("-ERR unknown command '" + cmd + "'\r\n")
		}
	}
}

// readCommand reads one command sent as an array of bulk strings.
func readCommand(rd *bufio.Reader) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("not a command: %q", line)
	}
	args := make([]string, n)
	for i := range args {
		line, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
		if err != nil {
			return nil, fmt.Errorf("not a bulk string: %q", line)
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(rd, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:size])
	}
	return args, nil
}

func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

func bulks(ss ...string) string {
	out := "*" + strconv.Itoa(len(ss)) + "\r\n"
	for _, s := range ss {
		out += bulk(s)
	}
	return out
}
