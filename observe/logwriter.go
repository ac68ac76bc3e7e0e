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
//
// A batch is written to the destination outside the lock Write takes,
// from a buffer of its own: while stderr is slow, requests keep appending
// their lines to the other buffer, and only a request that finds that one
// full too waits for the destination (lines are never dropped).
type LogWriter struct {
	mu       sync.Mutex // guards buf and the timer's arming
	buf      []byte
	interval time.Duration
	timer    *time.Timer // armed by the first line into an empty buffer

	// out is held while a batch is written to w, so that batches leave in
	// the order they were taken; whoever needs both takes out first, and
	// no one takes out while holding mu. spare, the buffer of the batch
	// written last, is free for the next one once out is released.
	out   sync.Mutex
	w     io.Writer
	spare []byte
}

// logWriterBufferSize is the batch size: a full buffer is written at once.
const logWriterBufferSize = 32 << 10

// NewLogWriter buffers writes to w for at most interval; an interval of 0
// (or less) writes each line through at once.
func NewLogWriter(w io.Writer, interval time.Duration) *LogWriter {
	lw := &LogWriter{w: w, interval: interval}
	if interval > 0 {
		lw.buf = make([]byte, 0, logWriterBufferSize)
		lw.spare = make([]byte, 0, logWriterBufferSize)
		lw.timer = time.AfterFunc(time.Hour, lw.Flush)
		lw.timer.Stop()
	}
	return lw
}

// Write queues p (one whole line) and never fails: as with slog, a failed
// log write is not the caller's failure.
func (l *LogWriter) Write(p []byte) (int, error) {
	if l.interval <= 0 {
		l.out.Lock()
		defer l.out.Unlock()
		_, _ = l.w.Write(p)
		return len(p), nil
	}
	for {
		l.mu.Lock()
		if len(l.buf)+len(p) <= logWriterBufferSize {
			if len(l.buf) == 0 {
				l.timer.Reset(l.interval)
			}
			l.buf = append(l.buf, p...)
			l.mu.Unlock()
			return len(p), nil
		}
		l.mu.Unlock()
		if len(p) >= logWriterBufferSize { // a freak line: written after the buffer, no copy
			l.flush(0, p)
			return len(p), nil
		}
		l.flush(len(p), nil) // then try again: other lines may have filled it meanwhile
	}
}

// Flush writes what is buffered now.
func (l *LogWriter) Flush() { l.flush(0, nil) }

// flush writes the buffered batch, then extra when not nil, with only out
// held while w takes them. With room > 0 it writes nothing if the buffer
// has room for that many bytes by then (another flush made it).
func (l *LogWriter) flush(room int, extra []byte) {
	l.out.Lock()
	defer l.out.Unlock()
	l.mu.Lock()
	if room > 0 && len(l.buf)+room <= logWriterBufferSize {
		l.mu.Unlock()
		return
	}
	batch := l.buf
	l.buf = l.spare[:0]
	l.mu.Unlock()
	if len(batch) > 0 {
		_, _ = l.w.Write(batch)
	}
	l.spare = batch[:0]
	if extra != nil {
		_, _ = l.w.Write(extra)
	}
}
