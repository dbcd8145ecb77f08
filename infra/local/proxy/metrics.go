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
// Requests that forced their pool are counted apart from those the weights
// routed, so that whoever holds the force key cannot sway a pool's analysis.
type poolMetrics struct {
	routed    requestCounters
	forced    requestCounters
	ejections atomic.Uint64
}

// requestCounters count one kind of request to a pool: routed or forced.
type requestCounters struct {
	requests  atomic.Uint64
	errors5xx atomic.Uint64
	failures  atomic.Uint64
	retries   atomic.Uint64
	// The latency histogram: every request on the own data path, a sample of them on HAProxy's.
	samples   atomic.Uint64
	buckets   []atomic.Uint64
	sumMicros atomic.Uint64
}

// of is the counters of routed or of forced requests.
func (p *poolMetrics) of(forced bool) *requestCounters {
	if forced {
		return &p.forced
	}
	return &p.routed
}

type metricsRegistry struct {
	mu          sync.Mutex
	pools       map[poolKey]*poolMetrics
	maintenance maintenanceMetrics
	// logLinesDropped: lines of HAProxy's log it could not write (none on the proxy's own data path).
	logLinesDropped atomic.Uint64
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
		p = &poolMetrics{}
		p.routed.buckets = make([]atomic.Uint64, len(latencyBuckets))
		p.forced.buckets = make([]atomic.Uint64, len(latencyBuckets))
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

func (p *requestCounters) observe(status int, d time.Duration) {
	p.requests.Add(1)
	if status >= 500 {
		p.errors5xx.Add(1)
	}
	p.observeLatency(d)
}

// observeLatency puts one request's latency into the histogram.
func (p *requestCounters) observeLatency(d time.Duration) {
	p.samples.Add(1)
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
	// Counters of requests: routed ones under their plain name, forced ones apart.
	requestCounterSpecs = []counterSpec{
		{"cutover_proxy_requests_total", "cutover_proxy_forced_requests_total", "Requests proxied, by pool.", func(c *requestCounters) uint64 { return c.requests.Load() }},
		{"cutover_proxy_responses_5xx_total", "cutover_proxy_forced_responses_5xx_total", "Responses with a 5xx status, by pool.", func(c *requestCounters) uint64 { return c.errors5xx.Load() }},
		{"cutover_proxy_upstream_failures_total", "cutover_proxy_forced_upstream_failures_total", "Requests no endpoint of the pool could answer.", func(c *requestCounters) uint64 { return c.failures.Load() }},
		{"cutover_proxy_retries_total", "cutover_proxy_forced_retries_total", "Attempts on an endpoint of the pool that failed and were tried again elsewhere.", func(c *requestCounters) uint64 { return c.retries.Load() }},
	}
	routedCounters = counterDescs(false, requestCounterSpecs)
	forcedCounters = counterDescs(true, requestCounterSpecs)
	ejectionsDesc  = prometheus.NewDesc("cutover_proxy_ejections_total", "Times an endpoint of the pool was ejected after consecutive failures.", poolLabels, nil)
	durationDesc   = prometheus.NewDesc("cutover_proxy_request_duration_seconds", "Upstream request latency of routed requests, by pool.", poolLabels, nil)
	forcedDuration = prometheus.NewDesc("cutover_proxy_forced_request_duration_seconds", "Upstream request latency of forced requests, by pool.", poolLabels, nil)
	weightDesc     = prometheus.NewDesc("cutover_proxy_pool_weight", "Configured weight, by pool.", poolLabels, nil)
	endpointUpDesc = prometheus.NewDesc("cutover_proxy_endpoint_up", "Whether the endpoint takes requests (not ejected, passing health checks).", append(poolLabels, "endpoint"), nil)
	pagesDesc      = prometheus.NewDesc("cutover_proxy_maintenance_pages_total", "Requests answered with the maintenance page.", nil, nil)
	heldDesc       = prometheus.NewDesc("cutover_proxy_held_requests_total", "Requests held while maintenance was on in hold mode.", nil, nil)
	releasedDesc   = prometheus.NewDesc("cutover_proxy_released_requests_total", "Held requests routed once maintenance ended.", nil, nil)
	holdingDesc    = prometheus.NewDesc("cutover_proxy_requests_holding", "Requests held right now.", nil, nil)
	outageDesc     = prometheus.NewDesc("cutover_proxy_outage_holds_total", "Requests every endpoint refused that waited for one to come back.", nil, nil)
	outageOKDesc   = prometheus.NewDesc("cutover_proxy_outage_holds_answered_total", "Held requests an endpoint then answered.", nil, nil)
	droppedDesc    = prometheus.NewDesc("cutover_proxy_log_lines_dropped_total", "Request log lines the data plane could not write (HAProxy: one of its threads found the other writing and gave up); the access log, the latency sample and the maintenance counts miss them.", nil, nil)
)

// counterSpec names a counter of requestCounters, routed and forced; counterDesc is one of them described.
type counterSpec struct {
	routed, forced, help string
	value                func(*requestCounters) uint64
}

type counterDesc struct {
	desc  *prometheus.Desc
	value func(*requestCounters) uint64
}

func counterDescs(forced bool, specs []counterSpec) []counterDesc {
	descs := make([]counterDesc, len(specs))
	for i, s := range specs {
		name, help := s.routed, s.help+" Forced requests are counted apart (cutover_proxy_forced_*)."
		if forced {
			name, help = s.forced, s.help+" Forced requests only (the keyed force header)."
		}
		descs[i] = counterDesc{prometheus.NewDesc(name, help, poolLabels, nil), s.value}
	}
	return descs
}

// collector exposes the counters and the routing in force, read at scrape time.
type collector struct {
	m       *metricsRegistry
	current func() *router
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, descs := range [][]counterDesc{routedCounters, forcedCounters} {
		for _, d := range descs {
			ch <- d.desc
		}
	}
	ch <- ejectionsDesc
	ch <- durationDesc
	ch <- forcedDuration
	ch <- weightDesc
	ch <- endpointUpDesc
	ch <- pagesDesc
	ch <- heldDesc
	ch <- releasedDesc
	ch <- holdingDesc
	ch <- outageDesc
	ch <- droppedDesc
	ch <- outageOKDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	series := make(map[poolKey]*poolMetrics, len(c.m.pools))
	for k, p := range c.m.pools {
		series[k] = p
	}
	c.m.mu.Unlock()
	for k, p := range series {
		collectCounters(ch, routedCounters, durationDesc, &p.routed, k)
		collectCounters(ch, forcedCounters, forcedDuration, &p.forced, k)
		ch <- prometheus.MustNewConstMetric(ejectionsDesc, prometheus.CounterValue, float64(p.ejections.Load()), k.pool, k.version)
	}
	mm := &c.m.maintenance
	ch <- prometheus.MustNewConstMetric(pagesDesc, prometheus.CounterValue, float64(mm.pages.Load()))
	ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.CounterValue, float64(mm.held.Load()))
	ch <- prometheus.MustNewConstMetric(releasedDesc, prometheus.CounterValue, float64(mm.released.Load()))
	ch <- prometheus.MustNewConstMetric(holdingDesc, prometheus.GaugeValue, float64(mm.holding.Load()))
	ch <- prometheus.MustNewConstMetric(outageDesc, prometheus.CounterValue, float64(mm.outageHeld.Load()))
	ch <- prometheus.MustNewConstMetric(outageOKDesc, prometheus.CounterValue, float64(mm.outageAnswered.Load()))
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(c.m.logLinesDropped.Load()))
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

func collectCounters(ch chan<- prometheus.Metric, descs []counterDesc, duration *prometheus.Desc, c *requestCounters, k poolKey) {
	for _, d := range descs {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.value(c)), k.pool, k.version)
	}
	// Buckets are read before the count: a sample counts before its bucket, so the count is never below them.
	cumulative := make(map[float64]uint64, len(latencyBuckets))
	var cum uint64
	for i, b := range latencyBuckets {
		cum += c.buckets[i].Load()
		cumulative[b] = cum
	}
	sum := float64(c.sumMicros.Load()) / 1e6
	ch <- prometheus.MustNewConstHistogram(duration, c.samples.Load(), sum, cumulative, k.pool, k.version)
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
