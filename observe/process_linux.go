package observe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// This file reads the process_* metrics from /proc/self, as
// client_golang's process collector (through procfs) did on Linux.

// userHZ is the kernel's clock tick for /proc times (USER_HZ, 100 on
// every Linux architecture Go supports; procfs assumes it too).
const userHZ = 100

// processStats is one reading of /proc/self.
type processStats struct {
	cpuSeconds     float64
	virtualBytes   float64
	residentBytes  float64
	startTime      float64
	openFDs        float64
	maxFDs         float64
	maxVirtual     float64
	receiveBytes   float64
	transmitBytes  float64
	hasNetworkByte bool
}

// readProcessStats reads /proc/self. Any part that cannot be read fails
// the whole reading, so a scrape never mixes values of different moments
// with missing ones.
func readProcessStats() (processStats, error) {
	var p processStats
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return p, fmt.Errorf("process metrics: %w", err)
	}
	starttime, err := p.parseStat(stat)
	if err != nil {
		return p, fmt.Errorf("process metrics: /proc/self/stat: %w", err)
	}
	boot, err := bootTime()
	if err != nil {
		return p, fmt.Errorf("process metrics: %w", err)
	}
	p.startTime = float64(boot) + starttime/userHZ
	if p.openFDs, err = openFDs(); err != nil {
		return p, fmt.Errorf("process metrics: %w", err)
	}
	limits, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return p, fmt.Errorf("process metrics: %w", err)
	}
	if p.maxFDs, p.maxVirtual, err = parseLimits(limits); err != nil {
		return p, fmt.Errorf("process metrics: /proc/self/limits: %w", err)
	}
	// client_golang read the IP octets from /proc/self/net/netstat and
	// left the two network counters out when it could not.
	if netstat, err := os.ReadFile("/proc/self/net/netstat"); err == nil {
		p.receiveBytes, p.transmitBytes, p.hasNetworkByte = parseNetstat(netstat)
	}
	return p, nil
}

// parseStat reads /proc/self/stat's CPU times, sizes and start time (in
// clock ticks since boot, returned). Fields are counted after the
// command's closing parenthesis, since the command may hold spaces.
func (p *processStats) parseStat(b []byte) (starttime float64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime 15, starttime
	// 22, vsize 23, rss 24.
	const utime, stime, start, vsize, rss = 14 - 3, 15 - 3, 22 - 3, 23 - 3, 24 - 3
	if len(f) <= rss {
		return 0, fmt.Errorf("%d fields", len(f)+2)
	}
	var v [5]uint64
	for n, idx := range []int{utime, stime, start, vsize, rss} {
		if v[n], err = strconv.ParseUint(f[idx], 10, 64); err != nil {
			return 0, fmt.Errorf("field %d: %w", idx+3, err)
		}
	}
	p.cpuSeconds = float64(v[0]+v[1]) / userHZ
	p.virtualBytes = float64(v[3])
	p.residentBytes = float64(v[4]) * float64(os.Getpagesize())
	return float64(v[2]), nil
}

// bootTime is /proc/stat's btime, in Unix seconds.
func bootTime() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			t, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat btime: %w", err)
			}
			return t, nil
		}
	}
	return 0, errors.New("/proc/stat has no btime")
}

// openFDs counts /proc/self/fd's entries. Since Linux 6.2 the directory's
// size is the count; older kernels report 0 and the entries are listed.
func openFDs() (float64, error) {
	if st, err := os.Stat("/proc/self/fd"); err == nil && st.Size() > 0 {
		return float64(st.Size()), nil
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer func() { _ = d.Close() }()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/fd: %w", err)
	}
	return float64(len(names)), nil
}

// parseLimits reads the soft limits on open files and address space;
// "unlimited" is the largest uint64, as procfs reports it.
func parseLimits(b []byte) (openFiles, addressSpace float64, err error) {
	var foundFiles, foundSpace bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		for _, l := range []struct {
			prefix string
			dst    *float64
			found  *bool
		}{{"Max open files", &openFiles, &foundFiles}, {"Max address space", &addressSpace, &foundSpace}} {
			rest, ok := strings.CutPrefix(line, l.prefix)
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, 0, fmt.Errorf("%q has no value", l.prefix)
			}
			if f[0] == "unlimited" {
				*l.dst = math.MaxUint64
			} else {
				v, err := strconv.ParseUint(f[0], 10, 64)
				if err != nil {
					return 0, 0, fmt.Errorf("%s: %w", l.prefix, err)
				}
				*l.dst = float64(v)
			}
			*l.found = true
		}
	}
	if !foundFiles || !foundSpace {
		return 0, 0, errors.New("no open files or address space limit")
	}
	return openFiles, addressSpace, nil
}

// parseNetstat reads IpExt's InOctets and OutOctets from a netstat file:
// a header line of names, then a line of values, per group. A counter
// the kernel does not report reads 0, as client_golang reported it.
func parseNetstat(b []byte) (in, out float64, ok bool) {
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, found := strings.CutPrefix(lines[i], "IpExt:")
		values, foundValues := strings.CutPrefix(lines[i+1], "IpExt:")
		if !found || !foundValues {
			continue
		}
		n, v := strings.Fields(names), strings.Fields(values)
		if len(n) != len(v) {
			return 0, 0, false
		}
		for j, name := range n {
			x, err := strconv.ParseFloat(v[j], 64)
			if err != nil {
				return 0, 0, false
			}
			switch name {
			case "InOctets":
				in = x
			case "OutOctets":
				out = x
			}
		}
		return in, out, true
	}
	return 0, 0, false
}

// processFamilies are the process_* families, left out of a scrape whose
// reading of /proc failed.
func (c *runtimeCollector) processFamilies() []*family {
	gauge := func(name, help, typ string, read func(p *processStats) float64, ok func(p *processStats) bool) *family {
		return &family{name: name, help: help, typ: typ, write: func(e *encoder) {
			c.mu.Lock()
			p, procOK := c.proc, c.procOK
			c.mu.Unlock()
			if procOK && (ok == nil || ok(&p)) {
				e.sample(name, "", "", "", 0, read(&p))
			}
		}}
	}
	network := func(p *processStats) bool { return p.hasNetworkByte }
	return []*family{
		gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", typeCounter,
			func(p *processStats) float64 { return p.cpuSeconds }, nil),
		gauge("process_open_fds", "Number of open file descriptors.", typeGauge,
			func(p *processStats) float64 { return p.openFDs }, nil),
		gauge("process_max_fds", "Maximum number of open file descriptors.", typeGauge,
			func(p *processStats) float64 { return p.maxFDs }, nil),
		gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", typeGauge,
			func(p *processStats) float64 { return p.virtualBytes }, nil),
		gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", typeGauge,
			func(p *processStats) float64 { return p.maxVirtual }, nil),
		gauge("process_resident_memory_bytes", "Resident memory size in bytes.", typeGauge,
			func(p *processStats) float64 { return p.residentBytes }, nil),
		gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", typeGauge,
			func(p *processStats) float64 { return p.startTime }, nil),
		gauge("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", typeCounter,
			func(p *processStats) float64 { return p.receiveBytes }, network),
		gauge("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", typeCounter,
			func(p *processStats) float64 { return p.transmitBytes }, network),
	}
}
