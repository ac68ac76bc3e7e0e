package observe

import (
	"io"
	"sync"
	"time"
)

// LogWriter buffers log lines for a slow destination (stderr: a pipe to
// the container runtime) and writes them in batches, the way NGINX's
// access_log buffer=… flush=… does. Every request writes one access log
// line; written one at a time, each line costs a system call (and, on a
// pipe, a wake-up of the reader), which showed in profiles under load even
// to /dev/null (bench/run.sh's repeated token in bench/README.md).
// Batched, one 32 KiB write carries many lines.
//
// A line waits at most the flush interval: the first line into an empty
// buffer arms a timer, and a full buffer is written at once. Lines stay
// whole and in order (each Write appends whole under the lock). What is
// lost if the process dies without Flush is at most one interval of lines;
// main flushes on every exit path.
type LogWriter struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []byte
	interval time.Duration
	timer    *time.Timer // armed by the first line into an empty buffer
}

// logWriterBufferSize is the batch size: a full buffer is written at once.
const logWriterBufferSize = 32 << 10

// NewLogWriter buffers writes to w for at most interval; an interval of 0
// (or less) writes each line through at once.
func NewLogWriter(w io.Writer, interval time.Duration) *LogWriter {
	lw := &LogWriter{w: w, interval: interval}
	if interval > 0 {
		lw.buf = make([]byte, 0, logWriterBufferSize)
		lw.timer = time.AfterFunc(time.Hour, lw.Flush)
		lw.timer.Stop()
	}
	return lw
}

// Write queues p (one whole line) and never fails: as with slog, a failed
// log write is not the caller's failure.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.interval <= 0 {
		_, _ = l.w.Write(p)
		return len(p), nil
	}
	if len(l.buf)+len(p) > logWriterBufferSize {
		l.flushLocked()
		if len(p) >= logWriterBufferSize { // a freak line: no copy
			_, _ = l.w.Write(p)
			return len(p), nil
		}
	}
	if len(l.buf) == 0 {
		l.timer.Reset(l.interval)
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// Flush writes what is buffered now.
func (l *LogWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *LogWriter) flushLocked() {
	if len(l.buf) == 0 {
		return
	}
	_, _ = l.w.Write(l.buf)
	l.buf = l.buf[:0]
}
