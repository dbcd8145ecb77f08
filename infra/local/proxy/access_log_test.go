package main

// The access log on both data planes, through the real supervisor and
// worker: a JSON line per request with where it went and how it ended,
// never its query string or the force key, in a file of the balancer
// user's alone; rotated once it reaches its size.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAccessLogWritesALinePerRequestOnBothDataPlanes(t *testing.T) {
	onBothDataPlanes(t, func(t *testing.T, start func(*Config) *haproxyBalancer) {
		blue, green := upstream(t, "blue"), upstream(t, "green")
		cfg := &Config{
			AccessLog: true, ForceHeader: "X-Cutover-Pool", ForceKey: "force-key-never-logged",
			HealthCheck: HealthCheck{IntervalMs: 100, TimeoutMs: 200},
			Pools: map[string]Pool{
				"blue":  {Weight: 100, Endpoints: []string{blue}, Version: "v1"},
				"green": {Weight: 0, Endpoints: []string{green}, Version: "v2"},
			},
		}
		b := start(cfg)
		if status, body := getPath(t, b.status.Listen, "/orders/42?token=query-never-logged", nil); status != 200 || body != "blue" {
			t.Fatalf("routed: %d %q", status, body)
		}
		if status, body := getPath(t, b.status.Listen, "/smoke", map[string]string{"X-Cutover-Pool": "green:force-key-never-logged"}); status != 200 || body != "green" {
			t.Fatalf("forced: %d %q", status, body)
		}
		path := filepath.Join(filepath.Dir(b.config), "access.log")
		// The requests' lines, after the one of the readiness probe.
		var routed, forced accessEntry
		var raw []byte
		waitFor(t, func() bool {
			raw, _ = os.ReadFile(path)
			for _, e := range parseAccessLog(t, raw) {
				switch e.Path {
				case "/orders/42":
					routed = e
				case "/smoke":
					forced = e
				}
			}
			return forced.Path != ""
		})
		if routed.Method != "GET" || routed.Path != "/orders/42" || routed.Status != 200 || routed.Pool != "blue" || routed.Version != "v1" || routed.Forced || routed.Instance != blue || routed.Client != "127.0.0.1" || routed.DurationMs < 0 {
			t.Fatalf("routed request's line: %+v", routed)
		}
		if forced.Path != "/smoke" || forced.Pool != "green" || forced.Version != "v2" || !forced.Forced || forced.Instance != green {
			t.Fatalf("forced request's line: %+v", forced)
		}
		if at, err := time.Parse(time.RFC3339Nano, routed.Time); err != nil || time.Since(at) > time.Minute || time.Since(at) < 0 {
			t.Fatalf("time %q: %v", routed.Time, err)
		}
		for _, secret := range []string{"query-never-logged", "force-key-never-logged", "token="} {
			if strings.Contains(string(raw), secret) {
				t.Fatalf("the access log holds %q:\n%s", secret, raw)
			}
		}
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("access.log: %v %v", info.Mode(), err)
		}
	})
}

func TestWithoutTheAccessLogNoFileIsWritten(t *testing.T) {
	b := startBalancerProcess(t, &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upstream(t, "blue")}}}})
	if status, _ := getPath(t, b.status.Listen, "/", nil); status != 200 {
		t.Fatalf("status %d", status)
	}
	time.Sleep(2 * accessLogFlush)
	if _, err := os.Stat(filepath.Join(filepath.Dir(b.config), "access.log")); !os.IsNotExist(err) {
		t.Fatalf("access.log without the access log on: %v", err)
	}
}

func TestAccessLogIsRotatedAtItsSize(t *testing.T) {
	dir := t.TempDir()
	l, err := openAccessLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.max = 1000
	for i := 0; i < 30; i++ {
		l.write(&accessEntry{Time: accessTime(time.Now()), Client: "127.0.0.1", Method: "GET", Path: fmt.Sprintf("/%d/%s", i, strings.Repeat("x", 20)), Status: 200})
	}
	l.flush()
	rawKept, err1 := os.ReadFile(filepath.Join(dir, "access.log.1"))
	rawCurrent, err2 := os.ReadFile(filepath.Join(dir, "access.log"))
	if err1 != nil || err2 != nil || len(rawKept) > 1000 || len(rawCurrent) > 1000 {
		t.Fatalf("after rotation: %d bytes kept (%v), %d current (%v)", len(rawKept), err1, len(rawCurrent), err2)
	}
	// Whole lines, the kept file's last followed by the current one's first, the last written last.
	kept, current := parseAccessLog(t, rawKept), parseAccessLog(t, rawCurrent)
	number := func(e accessEntry) (n int) { fmt.Sscanf(e.Path, "/%d/", &n); return n }
	if len(kept) == 0 || len(current) == 0 || number(kept[len(kept)-1])+1 != number(current[0]) || number(current[len(current)-1]) != 29 {
		t.Fatalf("kept %v, current %v", kept, current)
	}
}

func parseAccessLog(t *testing.T, raw []byte) []accessEntry {
	t.Helper()
	var lines []accessEntry
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		var e accessEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		lines = append(lines, e)
	}
	return lines
}

// A worker killed while it writes leaves at most a cut line, which the next
// one drops before it appends: every line parses, and lines go on being
// written for the requests served after each restart.
func TestAccessLogKeepsWholeLinesWhenItsWorkerIsKilledUnderLoad(t *testing.T) {
	onBothDataPlanes(t, func(t *testing.T, start func(*Config) *haproxyBalancer) {
		cfg := &Config{AccessLog: true, Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upstream(t, "blue")}, Version: "v1"}}}
		b := start(cfg)
		path := filepath.Join(filepath.Dir(b.config), "access.log")
		l := loadThrough(b)
		for kill := 1; kill <= 3; kill++ {
			n := l.ok.Load()
			waitFor(t, func() bool { return l.ok.Load() > n+1000 })
			worker := b.currentWorker()
			syscall.Kill(worker, syscall.SIGKILL)
			waitFor(t, func() bool { w := b.currentWorker(); return w != 0 && w != worker })
		}
		n := l.ok.Load()
		waitFor(t, func() bool { return l.ok.Load() > n+1000 })
		l.stop()
		for i := 0; i < 20; i++ {
			if status, _ := getPath(t, b.status.Listen, fmt.Sprintf("/after-kills/%d", i), nil); status != 200 {
				t.Fatalf("after the kills: %d", status)
			}
		}
		var lines []accessEntry
		waitFor(t, func() bool {
			raw, _ := os.ReadFile(path)
			lines = parseAccessLog(t, raw)
			after := 0
			for _, e := range lines {
				if strings.HasPrefix(e.Path, "/after-kills/") && e.Status == 200 && e.Pool == "blue" {
					after++
				}
			}
			return after == 20
		})
		if len(lines) < 3000 {
			t.Fatalf("%d lines for more than 4000 requests answered", len(lines))
		}
	})
}

func TestAccessLogDropsALineCutShortBeforeItAppends(t *testing.T) {
	for _, tc := range []struct{ name, before, kept string }{
		{"a cut line after whole ones", "{\"path\":\"/whole\"}\n{\"path\":\"/cu", "{\"path\":\"/whole\"}\n"},
		{"only a cut line", "{\"path\":\"/cu", ""},
		{"whole lines", "{\"path\":\"/whole\"}\n", "{\"path\":\"/whole\"}\n"},
		{"a cut line longer than the read-back", strings.Repeat("x", 100<<10), ""},
		{"a whole line before a long cut one", "{\"path\":\"/whole\"}\n" + strings.Repeat("x", 100<<10), "{\"path\":\"/whole\"}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, accessLogName), []byte(tc.before), 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := openAccessLog(dir)
			if err != nil {
				t.Fatal(err)
			}
			l.write(&accessEntry{Path: "/next", Status: 200})
			l.flush()
			raw, _ := os.ReadFile(filepath.Join(dir, accessLogName))
			if want := tc.kept + `{"time":"","client":"","method":"","path":"/next","status":200,"durationMs":0}` + "\n"; string(raw) != want {
				t.Fatalf("got %q, want %q", raw, want)
			}
			if l.size != int64(len(raw)) {
				t.Fatalf("size %d, file %d", l.size, len(raw))
			}
		})
	}
}

// A long path is logged, cut to its first accessPathMax bytes, on the same
// line as the request's whole ID, on both data planes (HAProxy cuts its
// log lines and the request lines it logs at 1024 bytes unless told more).
func TestAccessLogKeepsALongPathWithItsRequestIDOnBothDataPlanes(t *testing.T) {
	onBothDataPlanes(t, func(t *testing.T, start func(*Config) *haproxyBalancer) {
		b := start(&Config{AccessLog: true, Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{requestIDUpstream(t)}, Version: "v1"}}})
		lengths := []int{1000, 1100, 3000}
		for _, n := range lengths {
			id := fmt.Sprintf("long-path-%d-%s", n, strings.Repeat("i", 100))
			if status, body := getPath(t, b.status.Listen, "/"+strings.Repeat("p", n-1), map[string]string{requestIDHeader: id}); status != 200 || body != id {
				t.Fatalf("path of %d: %d %q", n, status, body)
			}
		}
		// A request in absolute form naming no path: its path is "/".
		conn, err := net.Dial("tcp", b.status.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET http://%s HTTP/1.1\r\nHost: %s\r\nX-Request-Id: absolute-form\r\nConnection: close\r\n\r\n", b.status.Listen, b.status.Listen)
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("absolute form: %v %v", resp, err)
		}
		path := filepath.Join(filepath.Dir(b.config), "access.log")
		logged := map[string]accessEntry{}
		waitFor(t, func() bool {
			raw, _ := os.ReadFile(path)
			for _, e := range parseAccessLog(t, raw) {
				logged[e.RequestID] = e
			}
			return len(logged) >= len(lengths)+1
		})
		if e := logged["absolute-form"]; e.Path != "/" || e.Status != 200 {
			t.Fatalf("absolute form's line: %+v", e)
		}
		for _, n := range lengths {
			id := fmt.Sprintf("long-path-%d-%s", n, strings.Repeat("i", 100))
			e, ok := logged[id]
			want := "/" + strings.Repeat("p", n-1)
			if len(want) > accessPathMax {
				want = want[:accessPathMax]
			}
			if !ok || e.Path != want || e.Status != 200 || e.Pool != "blue" {
				t.Fatalf("path of %d: logged %v with the path of %d bytes (want %d), status %d, pool %q; all: %d lines", n, ok, len(e.Path), len(want), e.Status, e.Pool, len(logged))
			}
		}
	})
}

func TestOriginPathLeavesOutTheQueryAndAnAbsoluteTargetsAuthority(t *testing.T) {
	for target, want := range map[string]string{
		"/orders/42?token=secret":              "/orders/42",
		"http://user:secret@example.com/a?b=c": "/a",
		"HTTPS://example.com":                  "/",
		"http://example.com?token=secret":      "/",
		"*":                                    "*",
		"/http://not-a-scheme-at-the-start/x":  "/http://not-a-scheme-at-the-start/x",
	} {
		if got := string(originPath([]byte(target))); got != want {
			t.Errorf("%q: %q, want %q", target, got, want)
		}
	}
}

// A change that sends traffic to a new version, made under load: every line
// of a request it sent there names that version, the first ones too (logged
// while the change was still being made), and its series counts them all.
func TestHAProxyAccessLogNamesTheNewVersionFromTheFirstRequestsOfAChange(t *testing.T) {
	for round := 0; round < 3; round++ {
		b := startHAProxyBalancer(t, &Config{
			AccessLog: true,
			Pools: map[string]Pool{
				"blue":  {Weight: 100, Endpoints: []string{upstream(t, "blue")}, Version: "v1"},
				"green": {Weight: 0, Endpoints: []string{}},
			},
		})
		l := loadThrough(b)
		waitFor(t, func() bool { return l.ok.Load() > 200 })
		b.cfg.Pools = map[string]Pool{
			"blue":  {Weight: 50, Endpoints: b.cfg.Pools["blue"].Endpoints, Version: "v1"},
			"green": {Weight: 50, Endpoints: []string{upstream(t, "green"), upstream(t, "green")}, Version: "v2"},
		}
		b.apply()
		waitFor(t, func() bool { return strings.Contains(b.admin("/config"), `"v2"`) })
		n := l.ok.Load()
		waitFor(t, func() bool { return l.ok.Load() > n+200 })
		l.stop()
		l.expectNoneFailed(t)
		// Read until the last lines are flushed and the last counts read: both then stay.
		path := filepath.Join(filepath.Dir(b.config), "access.log")
		var green, unnamed, counted, dropped int
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			raw, _ := os.ReadFile(path)
			green, unnamed = 0, 0
			for _, e := range parseAccessLog(t, raw) {
				if e.Pool == "green" {
					green++
					if e.Version != "v2" {
						unnamed++
					}
				}
			}
			m := b.admin("/metrics")
			counted, dropped = scraped(m, `cutover_proxy_requests_total{pool="green",version="v2"}`), scraped(m, "cutover_proxy_log_lines_dropped_total")
			if green > 50 && counted == green || time.Now().After(deadline) {
				break
			}
		}
		if unnamed > 0 {
			t.Fatalf("round %d: %d of %d lines of the new version's requests name another version", round, unnamed, green)
		}
		// And the new version's series counts each of them, the first ones too (a line
		// haproxy dropped is counted as dropped; all are the new version's, after the first round).
		if counted < green || counted > green+dropped {
			t.Fatalf("round %d: the new version's series counts %d requests, its lines %d, lines dropped %d", round, counted, green, dropped)
		}
	}
}

// Under load every request HAProxy counts has its access log line, or is
// counted among the lines it dropped (two of its threads writing at once):
// none goes missing unseen.
func TestHAProxyAccessLogAccountsForEveryRequestUnderLoad(t *testing.T) {
	b := startHAProxyBalancer(t, &Config{AccessLog: true, Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upstream(t, "blue")}, Version: "v1"}}})
	series := `cutover_proxy_requests_total{pool="blue",version="v1"}`
	var base int
	b.waitShowing(func() bool { base = scraped(b.admin("/metrics"), series); return base >= 1 }, "/metrics")
	path := filepath.Join(filepath.Dir(b.config), "access.log")
	l := loadThrough(b)
	waitFor(t, func() bool { return l.ok.Load() > 3000 })
	l.stop()
	l.expectNoneFailed(t)
	var lines, counted, dropped int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		raw, _ := os.ReadFile(path)
		lines = len(parseAccessLog(t, raw))
		m := b.admin("/metrics")
		counted, dropped = scraped(m, series), scraped(m, "cutover_proxy_log_lines_dropped_total")
		if counted == lines+dropped || time.Now().After(deadline) {
			break
		}
	}
	if counted != lines+dropped || counted-base < int(l.ok.Load()) {
		t.Fatalf("requests counted %d (%d sent by the load), lines %d, lines dropped %d", counted, l.ok.Load(), lines, dropped)
	}
	t.Logf("%d requests: %d lines, %d dropped", counted, lines, dropped)
}
