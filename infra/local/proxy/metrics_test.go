package main

import (
	"testing"
	"time"
)

// Every series names its pool and the version the pool serves; a new
// version in a pool starts from zero and the old version's series goes.
func TestMetricsCarryTheVersion(t *testing.T) {
	m := newMetricsRegistry()
	cfg := &Config{Pools: map[string]Pool{
		"blue":  {Weight: 0, Endpoints: []string{"127.0.0.1:1"}, Version: "v1"},
		"green": {Weight: 100, Endpoints: []string{"127.0.0.1:2"}, Version: "v2"},
	}}
	r := newRouter(cfg, m, newEndpointTable())
	r.byName["green"].metrics.routed.observe(500, 3*time.Millisecond)
	r.byName["green"].metrics.routed.observe(200, 3*time.Millisecond)
	r.byName["green"].metrics.forced.observe(500, 3*time.Millisecond)
	for series, want := range map[string]string{
		`cutover_proxy_requests_total{pool="green",version="v2"}`:                            "2",
		`cutover_proxy_responses_5xx_total{pool="green",version="v2"}`:                       "1",
		`cutover_proxy_requests_total{pool="blue",version="v1"}`:                             "0",
		`cutover_proxy_request_duration_seconds_count{pool="green",version="v2"}`:            "2",
		`cutover_proxy_request_duration_seconds_bucket{pool="green",version="v2",le="+Inf"}`: "2",
		`cutover_proxy_pool_weight{pool="green",version="v2"}`:                               "100",
		`cutover_proxy_forced_requests_total{pool="green",version="v2"}`:                     "1",
		`cutover_proxy_forced_responses_5xx_total{pool="green",version="v2"}`:                "1",
		`cutover_proxy_forced_requests_total{pool="blue",version="v1"}`:                      "0",
	} {
		if got := metricValue(m, r, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}

	cfg2 := &Config{Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{"127.0.0.1:1"}, Version: "v1"},
		"green": {Weight: 0, Endpoints: []string{"127.0.0.1:3"}, Version: "v3"},
	}}
	r2 := newRouter(cfg2, m, newEndpointTable())
	if got := metricValue(m, r2, `cutover_proxy_requests_total{pool="green",version="v3"}`); got != "0" {
		t.Errorf("a new version starts from zero, got %q", got)
	}
	if got := metricValue(m, r2, `cutover_proxy_requests_total{pool="green",version="v2"}`); got != "" {
		t.Errorf("the replaced version's series should be gone, got %q", got)
	}

	unversioned := newRouter(&Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{"127.0.0.1:1"}}}}, m, newEndpointTable())
	if got := metricValue(m, unversioned, `cutover_proxy_requests_total{pool="blue",version=""}`); got != "0" {
		t.Errorf("a pool without a version has an empty version label (the same as none in Prometheus), got %q", got)
	}
}
