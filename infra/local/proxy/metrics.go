package main

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// poolMetrics are lock-free counters on the request path; they live for the
// proxy's lifetime so that a reload never resets a counter. The exposition
// reads them at scrape time (a Prometheus collector of const metrics).
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

var (
	poolLabels = []string{"pool", "version"}
	counters   = []struct {
		desc  *prometheus.Desc
		value func(*poolMetrics) uint64
	}{
		{prometheus.NewDesc("cutover_proxy_requests_total", "Requests proxied, by pool.", poolLabels, nil), func(p *poolMetrics) uint64 { return p.requests.Load() }},
		{prometheus.NewDesc("cutover_proxy_responses_5xx_total", "Responses with a 5xx status, by pool.", poolLabels, nil), func(p *poolMetrics) uint64 { return p.errors5xx.Load() }},
		{prometheus.NewDesc("cutover_proxy_upstream_failures_total", "Requests no endpoint of the pool could answer.", poolLabels, nil), func(p *poolMetrics) uint64 { return p.failures.Load() }},
		{prometheus.NewDesc("cutover_proxy_retries_total", "Attempts on an endpoint of the pool that failed and were tried again elsewhere.", poolLabels, nil), func(p *poolMetrics) uint64 { return p.retries.Load() }},
		{prometheus.NewDesc("cutover_proxy_ejections_total", "Times an endpoint of the pool was ejected after consecutive failures.", poolLabels, nil), func(p *poolMetrics) uint64 { return p.ejections.Load() }},
	}
	durationDesc   = prometheus.NewDesc("cutover_proxy_request_duration_seconds", "Upstream request latency, by pool.", poolLabels, nil)
	weightDesc     = prometheus.NewDesc("cutover_proxy_pool_weight", "Configured weight, by pool.", poolLabels, nil)
	endpointUpDesc = prometheus.NewDesc("cutover_proxy_endpoint_up", "Whether the endpoint takes requests (not ejected, passing health checks).", append(poolLabels, "endpoint"), nil)
)

// collector exposes the counters and the routing in force, read at scrape time.
type collector struct {
	m       *metricsRegistry
	current func() *router
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, k := range counters {
		ch <- k.desc
	}
	ch <- durationDesc
	ch <- weightDesc
	ch <- endpointUpDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	series := make(map[poolKey]*poolMetrics, len(c.m.pools))
	for k, p := range c.m.pools {
		series[k] = p
	}
	c.m.mu.Unlock()
	for k, p := range series {
		for _, counter := range counters {
			ch <- prometheus.MustNewConstMetric(counter.desc, prometheus.CounterValue, float64(counter.value(p)), k.pool, k.version)
		}
		// Buckets are read before the count: a request counts before its bucket, so the count is never below them.
		cumulative := make(map[float64]uint64, len(latencyBuckets))
		var cum uint64
		for i, b := range latencyBuckets {
			cum += p.buckets[i].Load()
			cumulative[b] = cum
		}
		sum := float64(p.sumMicros.Load()) / 1e6
		ch <- prometheus.MustNewConstHistogram(durationDesc, p.requests.Load(), sum, cumulative, k.pool, k.version)
	}
	r := c.current()
	now := time.Now().UnixNano()
	for _, p := range r.pools {
		ch <- prometheus.MustNewConstMetric(weightDesc, prometheus.GaugeValue, float64(p.weight), p.name, p.version)
		for i, e := range p.states {
			up := 0.0
			if e.available(now) {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(endpointUpDesc, prometheus.GaugeValue, up, p.name, p.version, p.endpoints[i])
		}
	}
}

// registry is a Prometheus registry holding the proxy's collector.
func (m *metricsRegistry) registry(current func() *router) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{m: m, current: current})
	return reg
}

// handler serves the Prometheus exposition (text, or OpenMetrics when asked for).
func (m *metricsRegistry) handler(current func() *router) http.Handler {
	return promhttp.HandlerFor(m.registry(current), promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// write writes the exposition in the Prometheus text format.
func (m *metricsRegistry) write(w io.Writer, r *router) error {
	families, err := m.registry(func() *router { return r }).Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}
