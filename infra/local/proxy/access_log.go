package main

// The balancer's access log (Config.AccessLog), the same on both data
// planes: a JSON line per request, in access.log beside the config. Only
// what says where a request went and how it ended is written: never its
// query string, its headers or the force key (a query string or a header
// may carry a secret). The file is the balancer user's alone, written
// through a buffer flushed four times a second, and rotated when it
// reaches accessLogMaxBytes (the one before kept as access.log.1).

import (
	"bytes"
	"encoding/json"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	accessLogName     = "access.log"
	accessLogMaxBytes = 64 << 20
	accessLogFlush    = 250 * time.Millisecond
	// accessPathMax bounds the path written: a long one is cut.
	accessPathMax = 2048
)

// accessLogFields is HAProxy's log line with the access log on: the
// latency sample's three fields (haproxy_worker.go), then status, total
// time, client, server, method, path (no query string) and request ID.
var accessLogFields = []string{"%b", "%Tr", "%[var(txn.maint)]", "%ST", "%Ta", "%ci", "%s", "%HM", "%{+Q}HPO", "%[var(txn.request_id)]"}

// originPath is a request target's path as the access log writes it: up to
// its query string, and without the scheme and authority of a target in
// absolute form (which may carry credentials), "/" when it names no path.
func originPath(target []byte) []byte {
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		target = target[:q]
	}
	for _, scheme := range []string{"http://", "https://"} {
		if len(target) >= len(scheme) && strings.EqualFold(string(target[:len(scheme)]), scheme) {
			rest := target[len(scheme):]
			if slash := bytes.IndexByte(rest, '/'); slash >= 0 {
				return rest[slash:]
			}
			return []byte("/")
		}
	}
	return target
}

// accessEntry is one request's line.
type accessEntry struct {
	Time       string  `json:"time"`
	Client     string  `json:"client"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	DurationMs float64 `json:"durationMs"`
	// Pool and Version: where it was routed (none for the maintenance page); Forced: by the force key.
	Pool    string `json:"pool,omitempty"`
	Version string `json:"version,omitempty"`
	Forced  bool   `json:"forced,omitempty"`
	// Instance is the address that answered, when one did.
	Instance string `json:"instance,omitempty"`
	// RequestID is the X-Request-Id the instance was sent (request_id.go).
	RequestID string `json:"requestId,omitempty"`
}

type accessLog struct {
	mu   sync.Mutex
	path string
	file *os.File
	// buf holds whole lines only, written out together: a reader of the
	// file (or a process killed while writing) never meets half a line.
	buf  []byte
	size int64
	max  int64
	// failing: a write failed, said once until one succeeds again.
	failing bool
}

// accessLogBuffer is how much is held before it is written out between flushes.
const accessLogBuffer = 64 << 10

// openAccessLog opens (or creates) the access log in dir, flushed for as long as the process runs.
func openAccessLog(dir string) (*accessLog, error) {
	l := &accessLog{path: filepath.Join(dir, accessLogName), max: accessLogMaxBytes}
	if err := l.open(); err != nil {
		return nil, err
	}
	go func() {
		for range time.Tick(accessLogFlush) {
			l.flush()
		}
	}()
	return l, nil
}

func (l *accessLog) open() error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	size, err := dropCutLine(f)
	if err != nil {
		f.Close()
		return err
	}
	l.file, l.size = f, size
	return nil
}

// dropCutLine truncates the file after its last whole line and says its
// size. A process killed mid-line (its buffer written out when full, or a
// write cut short) leaves the start of a line with no end: kept, the next
// process's first line would be glued to it and neither would parse.
func dropCutLine(f *os.File) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := info.Size()
	buf := make([]byte, 64<<10)
	for scanned := end; scanned > 0; {
		from := max(0, scanned-int64(len(buf)))
		chunk := buf[:scanned-from]
		if _, err := f.ReadAt(chunk, from); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			whole := from + int64(i) + 1
			if whole == end {
				return end, nil
			}
			return whole, f.Truncate(whole)
		}
		scanned = from
	}
	return 0, f.Truncate(0)
}

// write adds a request's line.
func (l *accessLog) write(e *accessEntry) {
	if len(e.Path) > accessPathMax {
		e.Path = e.Path[:accessPathMax]
	}
	line, err := json.Marshal(e)
	if err != nil {
		return
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return
	}
	if l.size+int64(len(l.buf)+len(line)) > l.max {
		l.rotate()
		if l.file == nil {
			return
		}
	}
	if len(l.buf)+len(line) > accessLogBuffer {
		l.writeOut()
	}
	l.buf = append(l.buf, line...)
}

// rotate keeps the current file as access.log.1 (replacing the one before) and starts a new one.
func (l *accessLog) rotate() {
	l.writeOut()
	l.file.Close()
	l.file = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		log.Printf("access log: rotating: %v", err)
	}
	if err := l.open(); err != nil {
		log.Printf("access log: %v", err)
	}
}

func (l *accessLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.writeOut()
	}
}

// writeOut writes the buffered lines in one write; lines that cannot be written are dropped.
func (l *accessLog) writeOut() {
	if len(l.buf) == 0 {
		return
	}
	n, err := l.file.Write(l.buf)
	if err != nil && n > 0 && l.file.Truncate(l.size) == nil {
		// Cut short (a full disk): what was written ends mid-line, so it goes.
		n = 0
	}
	l.size += int64(n)
	if err != nil && !l.failing {
		log.Printf("access log: %v (lines are dropped until a write succeeds)", err)
	}
	l.failing = err != nil
	l.buf = l.buf[:0]
}

// millis is a duration in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// accessTime is the time a line is stamped with: UTC, to the millisecond.
func accessTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// accessLogs is a worker's access log: opened in its directory when the
// routing first asks for one, kept across reloads, flushed when the worker stops.
type accessLogs struct {
	dir     string
	mu      sync.Mutex
	current atomic.Pointer[accessLog]
	failed  bool
}

// in names the directory the log is kept in; without one nothing is written.
func (a *accessLogs) in(dir string) { a.dir = dir }

func (a *accessLogs) write(e *accessEntry) {
	if l := a.get(); l != nil {
		l.write(e)
	}
}

func (a *accessLogs) get() *accessLog {
	if l := a.current.Load(); l != nil {
		return l
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.current.Load(); l != nil || a.dir == "" || a.failed {
		return l
	}
	l, err := openAccessLog(a.dir)
	if err != nil {
		// Said once: the requests are served all the same.
		log.Printf("access log: %v", err)
		a.failed = true
		return nil
	}
	a.current.Store(l)
	return l
}

// close writes out what is buffered.
func (a *accessLogs) close() {
	if l := a.current.Load(); l != nil {
		l.flush()
	}
}
