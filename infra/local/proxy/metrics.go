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
	pools map[string]*poolMetrics
}

func newMetricsRegistry() *metricsRegistry {
	return &metricsRegistry{pools: map[string]*poolMetrics{}}
}

func (m *metricsRegistry) pool(name string) *poolMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pools[name]
	if !ok {
		p = &poolMetrics{buckets: make([]atomic.Uint64, len(latencyBuckets))}
		m.pools[name] = p
	}
	return p
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
	names := make([]string, 0, len(m.pools))
	for n := range m.pools {
		names = append(names, n)
	}
	m.mu.Unlock()
	sort.Strings(names)
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
		for _, n := range names {
			fmt.Fprintf(w, "%s{pool=%q} %d\n", c.name, n, c.value(m.pool(n)))
		}
	}
	fmt.Fprintln(w, "# HELP cutover_proxy_request_duration_seconds Upstream request latency, by pool.")
	fmt.Fprintln(w, "# TYPE cutover_proxy_request_duration_seconds histogram")
	for _, n := range names {
		p := m.pool(n)
		var cum uint64
		for i, b := range latencyBuckets {
			cum += p.buckets[i].Load()
			fmt.Fprintf(w, "cutover_proxy_request_duration_seconds_bucket{pool=%q,le=\"%g\"} %d\n", n, b, cum)
		}
		total := p.requests.Load()
		fmt.Fprintf(w, "cutover_proxy_request_duration_seconds_bucket{pool=%q,le=\"+Inf\"} %d\n", n, total)
		fmt.Fprintf(w, "cutover_proxy_request_duration_seconds_sum{pool=%q} %g\n", n, float64(p.sumMicros.Load())/1e6)
		fmt.Fprintf(w, "cutover_proxy_request_duration_seconds_count{pool=%q} %d\n", n, total)
	}
	fmt.Fprintln(w, "# HELP cutover_proxy_pool_weight Configured weight, by pool.")
	fmt.Fprintln(w, "# TYPE cutover_proxy_pool_weight gauge")
	for _, p := range r.pools {
		fmt.Fprintf(w, "cutover_proxy_pool_weight{pool=%q} %d\n", p.name, p.weight)
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
			fmt.Fprintf(w, "cutover_proxy_endpoint_up{pool=%q,endpoint=%q} %d\n", p.name, p.endpoints[i], up)
		}
	}
}
