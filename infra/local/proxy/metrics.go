package main

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// poolMetrics are lock-free counters; they live for the proxy's lifetime so
// that a reload never resets a counter.
type poolMetrics struct {
	requests  atomic.Uint64
	errors5xx atomic.Uint64
	failures  atomic.Uint64
	retries   atomic.Uint64
	ejections atomic.Uint64
	buckets   []atomic.Uint64
	sumMicros atomic.Uint64
}

type metricsRegistry struct {
	mu    sync.Mutex
	pools map[poolKey]*poolMetrics
}

// poolKey names a series: a pool serving a version. A new version in a
// pool starts its counters at zero, so they describe that version alone.
type poolKey struct{ pool, version string }

func (k poolKey) labels() string {
	if k.version == "" {
		return fmt.Sprintf("pool=%q", k.pool)
	}
	return fmt.Sprintf("pool=%q,version=%q", k.pool, k.version)
}

func newMetricsRegistry() *metricsRegistry {
	return &metricsRegistry{pools: map[poolKey]*poolMetrics{}}
}

func (m *metricsRegistry) pool(name, version string) *poolMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := poolKey{name, version}
	p, ok := m.pools[k]
	if !ok {
		p = &poolMetrics{buckets: make([]atomic.Uint64, len(latencyBuckets))}
		m.pools[k] = p
	}
	return p
}

// keepOnly forgets the series of versions no pool serves any more.
func (m *metricsRegistry) keepOnly(keys map[poolKey]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.pools {
		if !keys[k] {
			delete(m.pools, k)
		}
	}
}

func (p *poolMetrics) observe(status int, d time.Duration) {
	p.requests.Add(1)
	if status >= 500 {
		p.errors5xx.Add(1)
	}
	s := d.Seconds()
	for i, b := range latencyBuckets {
		if s <= b {
			p.buckets[i].Add(1)
			break
		}
	}
	p.sumMicros.Add(uint64(d.Microseconds()))
}

func (m *metricsRegistry) write(w io.Writer, r *router) {
	m.mu.Lock()
	keys := make([]poolKey, 0, len(m.pools))
	series := make(map[poolKey]*poolMetrics, len(m.pools))
	for k, p := range m.pools {
		keys = append(keys, k)
		series[k] = p
	}
	m.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].pool != keys[j].pool {
			return keys[i].pool < keys[j].pool
		}
		return keys[i].version < keys[j].version
	})
	counters := []struct {
		name, help string
		value      func(*poolMetrics) uint64
	}{
		{"cutover_proxy_requests_total", "Requests proxied, by pool.", func(p *poolMetrics) uint64 { return p.requests.Load() }},
		{"cutover_proxy_responses_5xx_total", "Responses with a 5xx status, by pool.", func(p *poolMetrics) uint64 { return p.errors5xx.Load() }},
		{"cutover_proxy_upstream_failures_total", "Requests no endpoint of the pool could answer.", func(p *poolMetrics) uint64 { return p.failures.Load() }},
		{"cutover_proxy_retries_total", "Attempts on an endpoint of the pool that failed and were tried again elsewhere.", func(p *poolMetrics) uint64 { return p.retries.Load() }},
		{"cutover_proxy_ejections_total", "Times an endpoint of the pool was ejected after consecutive failures.", func(p *poolMetrics) uint64 { return p.ejections.Load() }},
	}
	for _, c := range counters {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name)
		for _, k := range keys {
			fmt.Fprintf(w, "%s{%s} %d\n", c.name, k.labels(), c.value(series[k]))
		}
	}
	fmt.Fprintln(w, "# HELP cutover_proxy_request_duration_seconds Upstream request latency, by pool.")
	fmt.Fprintln(w, "# TYPE cutover_proxy_request_duration_seconds histogram")
	for _, k := range keys {
		p, l := series[k], k.labels()
		var cum uint64
		for i, b := range latencyBuckets {
			cum += p.buckets[i].Load()
			fmt.Fprintf(w, "cutover_proxy_request_duration_seconds_bucket{%s,le=\"%g\"} %d\n", l, b, cum)
		}
		total := p.requests.Load()
		fmt.Fprintf(w, "cutover_proxy_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", l, total)
		fmt.Fprintf(w, "cutover_proxy_request_duration_seconds_sum{%s} %g\n", l, float64(p.sumMicros.Load())/1e6)
		fmt.Fprintf(w, "cutover_proxy_request_duration_seconds_count{%s} %d\n", l, total)
	}
	fmt.Fprintln(w, "# HELP cutover_proxy_pool_weight Configured weight, by pool.")
	fmt.Fprintln(w, "# TYPE cutover_proxy_pool_weight gauge")
	for _, p := range r.pools {
		fmt.Fprintf(w, "cutover_proxy_pool_weight{%s} %d\n", poolKey{p.name, p.version}.labels(), p.weight)
	}
	fmt.Fprintln(w, "# HELP cutover_proxy_endpoint_up Whether the endpoint takes requests (not ejected, passing health checks).")
	fmt.Fprintln(w, "# TYPE cutover_proxy_endpoint_up gauge")
	now := time.Now().UnixNano()
	for _, p := range r.pools {
		for i, e := range p.states {
			up := 0
			if e.available(now) {
				up = 1
			}
			fmt.Fprintf(w, "cutover_proxy_endpoint_up{%s,endpoint=%q} %d\n", poolKey{p.name, p.version}.labels(), p.endpoints[i], up)
		}
	}
}
