package observe

import (
	"math"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestProcessMetricsComeFromProcSelf(t *testing.T) {
	p, err := readProcessStats()
	if err != nil {
		t.Fatal(err)
	}
	now := float64(time.Now().Unix())
	if p.startTime > now+1 || p.startTime < now-3600 {
		t.Errorf("start time %v, now %v", p.startTime, now)
	}
	if p.openFDs < 3 || p.maxFDs < p.openFDs {
		t.Errorf("open fds %v, max %v", p.openFDs, p.maxFDs)
	}
	if p.residentBytes <= 0 || p.virtualBytes < p.residentBytes || p.maxVirtual <= 0 {
		t.Errorf("rss %v, vsize %v, max %v", p.residentBytes, p.virtualBytes, p.maxVirtual)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	q, err := readProcessStats()
	if err != nil {
		t.Fatal(err)
	}
	if q.openFDs != p.openFDs+1 {
		t.Errorf("open fds %v after opening one more than %v", q.openFDs, p.openFDs)
	}
	// Burn CPU so the clock-tick counter moves.
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		runtime.Gosched()
	}
	r, err := readProcessStats()
	if err != nil {
		t.Fatal(err)
	}
	if r.cpuSeconds <= p.cpuSeconds-1e-9 || r.cpuSeconds == 0 {
		t.Errorf("cpu seconds %v then %v", p.cpuSeconds, r.cpuSeconds)
	}
}

func TestParseStat(t *testing.T) {
	// A command holding spaces and a parenthesis; fields 14, 15, 22, 23
	// and 24 are utime, stime, starttime, vsize and rss.
	line := "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 9 0 1234 1048576 300 18446744073709551615\n"
	var p processStats
	start, err := p.parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if start != 1234 || p.cpuSeconds != 3.8 || p.virtualBytes != 1048576 || p.residentBytes != float64(300*os.Getpagesize()) {
		t.Errorf("start %v, %+v", start, p)
	}
	for _, bad := range []string{"", "42 no parenthesis", "42 (cmd) S 1 2", "42 (cmd) S 1 42 42 0 -1 4194560 100 0 0 0 x 130 0 0 20 0 9 0 1234 1048576 300"} {
		if _, err := p.parseStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseLimits(t *testing.T) {
	limits := `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max address space         unlimited            unlimited            bytes
`
	files, space, err := parseLimits([]byte(limits))
	if err != nil || files != 1024 || space != math.MaxUint64 {
		t.Errorf("files %v, space %v, err %v", files, space, err)
	}
	for _, bad := range []string{"", "Max open files            lots   lots   files\nMax address space 1 1 bytes\n", "Max open files 10 10 files\n"} {
		if _, _, err := parseLimits([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseNetstat(t *testing.T) {
	netstat := `TcpExt: SyncookiesSent SyncookiesRecv
TcpExt: 0 0
IpExt: InNoRoutes InOctets OutOctets
IpExt: 0 123456 654321
`
	in, out, ok := parseNetstat([]byte(netstat))
	if !ok || in != 123456 || out != 654321 {
		t.Errorf("in %v, out %v, ok %v", in, out, ok)
	}
	for _, bad := range []string{"", "IpExt: InOctets OutOctets\nIpExt: 1\n", "IpExt: InOctets\nIpExt: x\n"} {
		if _, _, ok := parseNetstat([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
