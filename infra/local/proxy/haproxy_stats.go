package main

// The HAProxy data plane's metrics: its counters of each backend (a pool's
// routed requests in `pool_<name>`, its forced ones in `forced_<name>`)
// carried across haproxy's restarts and reloads, and a latency histogram
// from a sample of its requests' log lines, the sample sized so the log
// stays a few hundred lines a second however busy the balancer is.

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// backendCounts are the counters of one backend that become a pool's series.
type backendCounts struct{ requests, errors5xx, failures, retries uint64 }

func (a backendCounts) plus(b backendCounts) backendCounts {
	return backendCounts{a.requests + b.requests, a.errors5xx + b.errors5xx, a.failures + b.failures, a.retries + b.retries}
}

func (a backendCounts) minus(b backendCounts) backendCounts {
	sub := func(x, y uint64) uint64 {
		if x < y {
			return 0
		}
		return x - y
	}
	return backendCounts{sub(a.requests, b.requests), sub(a.errors5xx, b.errors5xx), sub(a.failures, b.failures), sub(a.retries, b.retries)}
}

// statsCommand asks for the process's pid, every backend's and server's
// counters, and the state map (the requests maintenance holds now).
func (f haproxyFiles) statsCommand() string {
	return "show info;show stat -1 6 -1 typed;show map " + haproxyRef(f.state())
}

// parseStats reads the answer to statsCommand: the pid, each backend's
// counters, and each server's status (backend, then server name, to status).
func parseStats(out string) (pid int, backends map[string]backendCounts, servers map[string]map[string]string) {
	backends = map[string]backendCounts{}
	servers = map[string]map[string]string{}
	type row struct {
		proxy, name, status string
		kind                int
		counts              backendCounts
		server              serverCounts
	}
	rows := map[string]*row{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "Pid: "); ok {
			pid, _ = strconv.Atoi(strings.TrimSpace(v))
			continue
		}
		if v, ok := strings.CutPrefix(line, "DroppedLogs: "); ok {
			// Carried across processes with the backends' counts.
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			backends[droppedLogsEntry] = backendCounts{requests: n}
			continue
		}
		// `<B|S>.<iid>.<sid>.<field index>.<field>.<process>:<tags>:<type>:<value>`
		parts := strings.SplitN(line, ":", 4)
		if len(parts) != 4 || !(strings.HasPrefix(parts[0], "B.") || strings.HasPrefix(parts[0], "S.")) {
			continue
		}
		key := strings.SplitN(parts[0], ".", 5)
		if len(key) != 5 {
			continue
		}
		id := key[0] + "." + key[1] + "." + key[2]
		r := rows[id]
		if r == nil {
			r = &row{}
			rows[id] = r
		}
		value := parts[3]
		n, _ := strconv.ParseUint(value, 10, 64)
		field, _, _ := strings.Cut(key[4], ".")
		switch field {
		case "pxname":
			r.proxy = value
		case "svname":
			r.name = value
		case "status":
			r.status = value
		case "type":
			r.kind = int(n)
		case "req_tot":
			r.counts.requests = n
		case "hrsp_5xx":
			r.counts.errors5xx = n
			r.server.errors5xx = n
			r.server.answers += n
		case "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx":
			r.server.answers += n
		case "stot":
			r.server.sessions = n
		case "econ", "eresp":
			r.counts.failures += n
		case "wretr", "wredis":
			r.counts.retries += n
		}
	}
	counts := map[string]map[string]serverCounts{}
	for _, r := range rows {
		switch r.kind {
		case 1: // a backend
			backends[r.proxy] = r.counts
		case 2: // a server
			if servers[r.proxy] == nil {
				servers[r.proxy], counts[r.proxy] = map[string]string{}, map[string]serverCounts{}
			}
			servers[r.proxy][r.name] = r.status
			counts[r.proxy][r.name] = r.server
		}
	}
	foldHeld(backends, counts)
	return pid, backends, servers
}

// droppedLogsEntry holds the log lines haproxy dropped (`show info`'s DroppedLogs), among the backends' counts; not a request count.
const droppedLogsEntry = "log:dropped"

// counterLedger keeps each backend's counts across haproxy processes: a new
// process starts its counters at zero, so what the one before it had counted
// (at its last reading) is carried. The counts a process makes after its last
// reading and before it ends (a kill) are the only ones lost.
type counterLedger struct {
	mu      sync.Mutex
	pid     int
	last    map[string]backendCounts
	carried map[string]backendCounts
	// bases are the totals when a pool's version first appeared: its series counts from there.
	bases map[seriesKey]backendCounts
	// pending are the series of the routing begun and not yet read: a reading
	// made by the routing still in force meanwhile keeps their bases.
	pending map[seriesKey]bool
	// rate: requests a second over all backends, for the log's sample.
	lastTotal uint64
	lastAt    time.Time
}

// seriesKey is one of a pool's two series for a version: routed or forced requests.
type seriesKey struct {
	poolKey
	forced bool
}

func newCounterLedger() *counterLedger {
	return &counterLedger{last: map[string]backendCounts{}, carried: map[string]backendCounts{}, bases: map[seriesKey]backendCounts{}, pending: map[seriesKey]bool{}}
}

// read takes a reading of process pid; it returns the totals and the request rate since the reading before.
func (l *counterLedger) read(pid int, backends map[string]backendCounts, at time.Time) (totals map[string]backendCounts, rate float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pid != l.pid {
		for name, c := range l.last {
			l.carried[name] = l.carried[name].plus(c)
		}
		l.last = map[string]backendCounts{}
		l.pid = pid
	}
	for name, c := range backends {
		l.last[name] = c
	}
	totals = map[string]backendCounts{}
	var all uint64
	for _, names := range []map[string]backendCounts{l.carried, l.last} {
		for name := range names {
			totals[name] = l.carried[name].plus(l.last[name])
		}
	}
	for name, c := range totals {
		if !strings.Contains(name, ":") {
			all += c.requests
		}
	}
	if !l.lastAt.IsZero() && at.After(l.lastAt) && all >= l.lastTotal {
		rate = float64(all-l.lastTotal) / at.Sub(l.lastAt).Seconds()
	}
	l.lastTotal, l.lastAt = all, at
	return totals, rate
}

// begin starts the series of the versions cfg's pools serve that are new:
// from the totals of the last reading (zero before any).
func (l *counterLedger) begin(cfg *Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A routing begun before and never put in force is forgotten.
	clear(l.pending)
	for _, name := range cfg.poolNames() {
		for _, forced := range []bool{false, true} {
			k := seriesKey{poolKey{name, cfg.Pools[name].Version}, forced}
			l.pending[k] = true
			if _, ok := l.bases[k]; !ok {
				backend := seriesBackend(k)
				l.bases[k] = l.carried[backend].plus(l.last[backend])
			}
		}
	}
}

func seriesBackend(k seriesKey) string {
	if k.forced {
		return forcedBackendName(k.pool)
	}
	return backendName(k.pool)
}

// since is a series' counts from the totals: from where its version began
// (the first reading it was in), forgetting the versions no pool serves
// (but those of a routing begun and about to be put in force).
func (l *counterLedger) since(totals map[string]backendCounts, r *router) map[seriesKey]backendCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[seriesKey]backendCounts{}
	live := map[seriesKey]bool{}
	for _, p := range r.pools {
		for _, forced := range []bool{false, true} {
			k := seriesKey{poolKey{p.name, p.version}, forced}
			backend := seriesBackend(k)
			base, ok := l.bases[k]
			if !ok {
				base = totals[backend]
				l.bases[k] = base
			}
			live[k] = true
			delete(l.pending, k)
			counts[k] = totals[backend].minus(base)
		}
	}
	for k := range l.bases {
		if !live[k] && !l.pending[k] {
			delete(l.bases, k)
		}
	}
	return counts
}

// logSampleScale is the range the log's sample is drawn from: a request is
// logged when its draw falls below the sample's `below`.
const logSampleScale = 1000000

// logLinesPerSecond is how many request lines a second the sample aims at.
const logLinesPerSecond = 500

// sampleBelow is the sample's `below` for a request rate: every
// request while the rate is under the aim, else one in a power of two, so
// the sample changes only when the rate doubles or halves.
func sampleBelow(rate float64) int {
	oneIn := 1
	for float64(oneIn)*logLinesPerSecond < rate && oneIn < logSampleScale {
		oneIn *= 2
	}
	return logSampleScale / oneIn
}

// refreshCounts reads haproxy's counters into the series of the pools it
// serves, and the endpoints' states as its checks see them; it returns the
// request rate since the reading before.
func (w *haproxyWorker) refreshCounts() (float64, error) {
	// One reading at a time: a counter is never set back by an older reading.
	w.refreshing.Lock()
	defer w.refreshing.Unlock()
	out, err := w.command(w.files.statsCommand())
	if err != nil {
		return 0, err
	}
	pid, backends, servers := parseStats(out)
	if holding, ok := holdingIn(out); ok {
		w.metrics.maintenance.holding.Store(holding)
	}
	if pid == 0 {
		return 0, fmt.Errorf("haproxy's statistics: no pid in %q", firstLine(out))
	}
	totals, rate := w.ledger.read(pid, backends, time.Now())
	w.metrics.logLinesDropped.Store(totals[droppedLogsEntry].requests)
	w.metrics.maintenance.outageHeld.Store(totals[outageHeldEntry].requests)
	w.metrics.maintenance.outageAnswered.Store(totals[outageAnsweredEntry].requests)
	r := w.current.Load()
	for k, c := range w.ledger.since(totals, r) {
		p := r.byName[k.pool]
		if p == nil || p.version != k.version {
			continue
		}
		m := p.metrics.of(k.forced)
		m.requests.Store(c.requests)
		m.errors5xx.Store(c.errors5xx)
		m.failures.Store(c.failures)
		m.retries.Store(c.retries)
	}
	w.applyServerStates(servers)
	return rate, nil
}

// setLogSample sizes the log's sample for the request rate: the draws at
// or above `below` are left out.
func (w *haproxyWorker) setLogSample(rate float64) {
	below := sampleBelow(rate)
	if int64(below) == w.logBelow.Load() {
		return
	}
	silenced := ""
	if below < logSampleScale {
		silenced = fmt.Sprintf("%d:%d\n", below, logSampleScale-1)
	}
	if err := w.replace("acl", w.files.silence(), silenced); err == nil {
		w.logBelow.Store(int64(below))
	}
}

// holdingIn reads the state map's `holding` entry (`<ref> holding <n>`).
func holdingIn(out string) (int64, bool) {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[1] == "holding" {
			n, err := strconv.ParseInt(f[2], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
