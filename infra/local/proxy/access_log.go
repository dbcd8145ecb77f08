package main

// The balancer's access log (Config.AccessLog), the same on both data
// planes: a JSON line per request, in access.log beside the config. Only
// what says where a request went and how it ended is written: never its
// query string, its headers or the force key (a query string or a header
// may carry a secret). The file is the balancer user's alone, written
// through a buffer flushed four times a second, and rotated when it
// reaches accessLogMaxBytes (the one before kept as access.log.1).

import (
	"bufio"
	"encoding/json"
	"log"
	"os"
	"path/filepath"
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
// time, client, server, method and path (no query string).
var accessLogFields = []string{"%b", "%Tr", "%[var(txn.maint)]", "%ST", "%Ta", "%ci", "%s", "%HM", "%HPO"}

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
}

type accessLog struct {
	mu   sync.Mutex
	path string
	file *os.File
	buf  *bufio.Writer
	size int64
	max  int64
}

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
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.file, l.buf, l.size = f, bufio.NewWriterSize(f, 64<<10), info.Size()
	return nil
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
	if l.buf == nil {
		return
	}
	if l.size+int64(len(line)) > l.max {
		l.rotate()
		if l.buf == nil {
			return
		}
	}
	n, _ := l.buf.Write(line)
	l.size += int64(n)
}

// rotate keeps the current file as access.log.1 (replacing the one before) and starts a new one.
func (l *accessLog) rotate() {
	l.buf.Flush()
	l.file.Close()
	l.buf = nil
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
	if l.buf != nil {
		if err := l.buf.Flush(); err != nil {
			log.Printf("access log: %v", err)
		}
	}
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
