package observe

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records what reaches the destination, and in how many writes.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

// write is lw.Write holding it to its contract: it never fails and takes
// the whole line.
func write(t *testing.T, lw *LogWriter, p []byte) {
	t.Helper()
	if n, err := lw.Write(p); err != nil || n != len(p) {
		t.Errorf("Write(%d bytes) = %d, %v; want %d, nil", len(p), n, err, len(p))
	}
}

func (s *sink) snapshot() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String(), s.writes
}

func TestLogWriterWritesABufferedLineAfterTheInterval(t *testing.T) {
	var s sink
	lw := NewLogWriter(&s, 50*time.Millisecond)
	start := time.Now()
	write(t, lw, []byte("one\n"))
	if got, _ := s.snapshot(); got != "" {
		t.Fatalf("written at once: %q", got)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got, n := s.snapshot(); got != "" {
			if got != "one\n" || n != 1 {
				t.Fatalf("got %q in %d writes", got, n)
			}
			if waited := time.Since(start); waited < 40*time.Millisecond {
				t.Fatalf("written after %v, before the interval", waited)
			}
			return
		}
	}
	t.Fatal("the line was never written without a Flush")
}

func TestLogWriterBatchesLinesIntoFewWrites(t *testing.T) {
	var s sink
	lw := NewLogWriter(&s, time.Hour) // only a full buffer or Flush writes
	line := strings.Repeat("x", 399) + "\n"
	const lines = 1000 // 400 KB: about 13 full buffers
	for range lines {
		write(t, lw, []byte(line))
	}
	_, n := s.snapshot()
	if want := lines * len(line) / logWriterBufferSize; n < want-1 || n > want+1 {
		t.Fatalf("%d writes for %d lines, want about %d (one per full buffer)", n, lines, want)
	}
	lw.Flush()
	got, _ := s.snapshot()
	if got != strings.Repeat(line, lines) {
		t.Fatalf("lines lost or changed: %d bytes, want %d", len(got), lines*len(line))
	}
}

func TestLogWriterKeepsConcurrentLinesWholeAndInOrder(t *testing.T) {
	var s sink
	lw := NewLogWriter(&s, time.Millisecond)
	const writers, each = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				write(t, lw, fmt.Appendf(nil, "%d %d %s.\n", g, i, strings.Repeat("y", i%300)))
			}
		}()
	}
	wg.Wait()
	lw.Flush()
	got, _ := s.snapshot()
	next := make([]int, writers)
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(l, "%d %d %s", &g, &i, &pad); err != nil || g < 0 || g >= writers {
			t.Fatalf("torn line %q: %v", l, err)
		}
		if i != next[g] || len(pad) != i%300+1 {
			t.Fatalf("writer %d: line %d (pad %d) where %d was due", g, i, len(pad), next[g])
		}
		next[g]++
	}
	for g, n := range next {
		if n != each {
			t.Fatalf("writer %d: %d lines arrived, want %d", g, n, each)
		}
	}
}

func TestLogWriterWithoutIntervalWritesEachLineAtOnce(t *testing.T) {
	var s sink
	lw := NewLogWriter(&s, 0)
	write(t, lw, []byte("a\n"))
	write(t, lw, []byte("b\n"))
	if got, n := s.snapshot(); got != "a\nb\n" || n != 2 {
		t.Fatalf("got %q in %d writes, want each line written at once", got, n)
	}
}

func TestLogWriterWritesAnOversizedLineWhole(t *testing.T) {
	var s sink
	lw := NewLogWriter(&s, time.Hour)
	write(t, lw, []byte("before\n"))
	big := strings.Repeat("z", 2*logWriterBufferSize) + "\n"
	write(t, lw, []byte(big))
	got, n := s.snapshot()
	if got != "before\n"+big || n != 2 {
		t.Fatalf("%d bytes in %d writes: want the buffered line, then the big one whole", len(got), n)
	}
}

// slowSink is a destination that takes its time (stderr piped to a log
// shipper that stalls): started is told when a write begins.
type slowSink struct {
	sink
	delay   time.Duration
	started chan struct{}
}

func (s *slowSink) Write(p []byte) (int, error) {
	select {
	case s.started <- struct{}{}:
	default:
	}
	time.Sleep(s.delay)
	return s.sink.Write(p)
}

// A request's line goes into the buffer while the previous batch is being
// written: only a full buffer waits for the destination. Before, the
// batch was written under the lock every Write takes, so each request
// logging during a slow write waited for it.
func TestLogWriterDoesNotHoldLinesBehindASlowWrite(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		startBy  func(lw *LogWriter) // gets a batch written
	}{
		{"batch written by the interval", 5 * time.Millisecond, func(*LogWriter) {}},
		{"batch written by Flush", time.Hour, func(lw *LogWriter) { go lw.Flush() }},
		{"batch written because the buffer is full", time.Hour, func(lw *LogWriter) {
			go func() { _, _ = lw.Write([]byte(strings.Repeat("f", logWriterBufferSize-4) + "\n")) }()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &slowSink{delay: 500 * time.Millisecond, started: make(chan struct{}, 1)}
			lw := NewLogWriter(s, tt.interval)
			write(t, lw, []byte("first\n"))
			tt.startBy(lw)
			select {
			case <-s.started:
			case <-time.After(5 * time.Second):
				t.Fatal("the batch was never written")
			}
			start := time.Now()
			write(t, lw, []byte("second\n"))
			if took := time.Since(start); took > 250*time.Millisecond {
				t.Fatalf("Write took %v: it waited for the slow write of the previous batch", took)
			}
			lw.Flush()
			got, _ := s.snapshot()
			if !strings.HasPrefix(got, "first\n") || !strings.Contains(got, "\nsecond\n") {
				t.Fatalf("lines lost or out of order: %q", got)
			}
		})
	}
}
