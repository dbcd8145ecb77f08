package main

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A reading of haproxy's statistics: backends' counters and servers' states, as HAProxy 2.6 answers `show info;show stat typed`.
func TestParseStatsReadsBackendsAndServers(t *testing.T) {
	out := "Name: HAProxy\nPid: 4242\nDroppedLogs: 9\n\n" +
		"S.3.1.0.pxname.1:KNS:str:pool_blue\nS.3.1.1.svname.1:KNS:str:e0\nS.3.1.17.status.1:SGP:str:DOWN\nS.3.1.32.type.1:CGS:u32:2\n" +
		"B.3.0.0.pxname.1:KNS:str:pool_blue\nB.3.0.1.svname.1:KNS:str:BACKEND\nB.3.0.13.econ.1:MCP:u64:1\nB.3.0.14.eresp.1:MCP:u64:2\n" +
		"B.3.0.15.wretr.1:MCP:u64:3\nB.3.0.16.wredis.1:MCP:u64:4\nB.3.0.32.type.1:CGS:u32:1\nB.3.0.43.hrsp_5xx.1:MCP:u64:5\nB.3.0.48.req_tot.1:MCP:u64:70\n"
	pid, backends, servers := parseStats(out)
	if pid != 4242 {
		t.Fatalf("pid %d", pid)
	}
	if got, want := backends["pool_blue"], (backendCounts{requests: 70, errors5xx: 5, failures: 3, retries: 7}); got != want {
		t.Fatalf("backend %+v, want %+v", got, want)
	}
	if servers["pool_blue"]["e0"] != "DOWN" {
		t.Fatalf("servers %v", servers)
	}
	if backends[droppedLogsEntry].requests != 9 {
		t.Fatalf("dropped log lines: %+v", backends[droppedLogsEntry])
	}
}

// Counts go on across haproxy processes (a restart starts its counters at
// zero) and a version's series counts from when it appeared.
func TestCounterLedgerCarriesCountsAcrossProcessesAndVersions(t *testing.T) {
	l := newCounterLedger()
	at := time.Unix(1000, 0)
	totals, _ := l.read(1, map[string]backendCounts{"pool_blue": {requests: 10, errors5xx: 1}}, at)
	r := newRouter(&Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{"127.0.0.1:1"}, Version: "v1"}}}, newMetricsRegistry(), newEndpointTable())
	if got := l.since(totals, r)[seriesKey{poolKey{"blue", "v1"}, false}]; got.requests != 0 {
		t.Fatalf("a series counts from its first reading, got %+v", got)
	}
	totals, rate := l.read(1, map[string]backendCounts{"pool_blue": {requests: 30, errors5xx: 2}}, at.Add(time.Second))
	if got := l.since(totals, r)[seriesKey{poolKey{"blue", "v1"}, false}]; got.requests != 20 || got.errors5xx != 1 {
		t.Fatalf("got %+v", got)
	}
	if rate != 20 {
		t.Fatalf("rate %v", rate)
	}
	// A new process: its counters start again, the old one's are carried.
	totals, _ = l.read(2, map[string]backendCounts{"pool_blue": {requests: 5}}, at.Add(2*time.Second))
	if got := l.since(totals, r)[seriesKey{poolKey{"blue", "v1"}, false}]; got.requests != 25 {
		t.Fatalf("carried: got %+v", got)
	}
	// A new version in the pool starts from zero; the old one's base is forgotten.
	r2 := newRouter(&Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{"127.0.0.1:2"}, Version: "v2"}}}, newMetricsRegistry(), newEndpointTable())
	totals, _ = l.read(2, map[string]backendCounts{"pool_blue": {requests: 9}}, at.Add(3*time.Second))
	if got := l.since(totals, r2)[seriesKey{poolKey{"blue", "v2"}, false}]; got.requests != 0 {
		t.Fatalf("new version: got %+v", got)
	}
	if _, kept := l.bases[seriesKey{poolKey{"blue", "v1"}, false}]; kept {
		t.Fatal("the old version's base should be gone")
	}
}

// A routing begun (its new versions' series starting from the counts then)
// and read by the routing still in force before it is put in force (a
// scrape while the reloaded haproxy starts) keeps the new series' start:
// the new version counts every request it served from its beginning.
func TestCounterLedgerKeepsABegunVersionThroughAReadingOfTheRoutingBefore(t *testing.T) {
	l := newCounterLedger()
	at := time.Unix(1000, 0)
	pools := func(version string) *router {
		return newRouter(&Config{Pools: map[string]Pool{"green": {Weight: 100, Endpoints: []string{"127.0.0.1:1"}, Version: version}}}, newMetricsRegistry(), newEndpointTable())
	}
	old, next := pools("v1"), pools("v2")
	totals, _ := l.read(1, map[string]backendCounts{"pool_green": {requests: 10}}, at)
	l.since(totals, old)
	l.begin(next.cfg)
	// The new routing serves 4 requests while the old one is still the one read.
	totals, _ = l.read(2, map[string]backendCounts{"pool_green": {requests: 4}}, at.Add(time.Second))
	l.since(totals, old)
	totals, _ = l.read(2, map[string]backendCounts{"pool_green": {requests: 7}}, at.Add(2*time.Second))
	if got := l.since(totals, next)[seriesKey{poolKey{"green", "v2"}, false}]; got.requests != 7 {
		t.Fatalf("the new version's requests: %+v, want 7", got)
	}
	if _, kept := l.bases[seriesKey{poolKey{"green", "v1"}, false}]; kept {
		t.Fatal("the old version's base should be gone once the new routing is read")
	}
}

// The log's sample: every request below the aim, then one in a power of two.
func TestLogSampleFollowsTheRate(t *testing.T) {
	for rate, want := range map[float64]int{0: 1000000, 500: 1000000, 501: 500000, 40000: 1000000 / 128} {
		if got := sampleBelow(rate); got != want {
			t.Errorf("rate %v: below %d, want %d", rate, got, want)
		}
	}
}

// The counts go on across a reload (a new haproxy process for a changed
// setting) and across haproxy killed and started again.
func TestHAProxyCountsGoOnAcrossAReloadAndAKill(t *testing.T) {
	b := startHAProxyBalancer(t, &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upstream(t, "blue")}, Version: "v1"}}})
	count := func() int {
		m := b.admin("/metrics")
		for _, l := range strings.Split(m, "\n") {
			if v, ok := strings.CutPrefix(l, `cutover_proxy_requests_total{pool="blue",version="v1"} `); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatalf("no count in:\n%s", m)
		return 0
	}
	send := func(n int) {
		for i := 0; i < n; i++ {
			if status, body := b.get(nil); status != 200 {
				t.Fatalf("%d %s", status, body)
			}
		}
	}
	// A request is counted as haproxy closes its transaction, a moment after its answer: the counts are awaited.
	reaches := func(want int, what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for c := count(); c != want; c = count() {
			if c > want || time.Now().After(deadline) {
				t.Fatalf("%s: %d, want %d", what, c, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(t, func() bool { return count() > 0 })
	c0 := count()
	send(20)
	reaches(c0+20, "20 requests")
	pids := b.haproxyPids()
	b.cfg.HealthCheck.IntervalMs = 500
	b.apply()
	b.waitShowing(func() bool { p := b.haproxyPids(); return len(p) == 1 && p[0] != pids[0] }, "/config")
	send(10)
	reaches(c0+30, "across a reload")
	c1 := c0 + 30
	pids = b.haproxyPids()
	syscall.Kill(pids[0], syscall.SIGKILL)
	b.waitShowing(func() bool { p := b.haproxyPids(); return len(p) == 1 && p[0] != pids[0] }, "/config")
	waitFor(t, func() bool { status, _ := b.get(nil); return status == 200 })
	send(4)
	reaches(c1+5, "across a kill")
}

// Each pool with weight gets its share of the draws as a range, in the pools' order.
func TestRangesShareTheDrawsByWeight(t *testing.T) {
	for _, c := range []struct {
		pools map[string]Pool
		want  string
	}{
		{map[string]Pool{"blue": {Weight: 100}, "green": {Weight: 0}}, "0:999999 blue\n"},
		{map[string]Pool{"blue": {Weight: 50}, "green": {Weight: 50}}, "0:499999 blue\n500000:999999 green\n"},
		{map[string]Pool{"blue": {Weight: 1}, "green": {Weight: 2}}, "0:333332 blue\n333333:999999 green\n"},
		{map[string]Pool{"blue": {Weight: 0}, "green": {Weight: 0}}, ""},
	} {
		if got := renderRanges(&Config{Pools: c.pools}); got != c.want {
			t.Errorf("%v: %q, want %q", c.pools, got, c.want)
		}
	}
}
