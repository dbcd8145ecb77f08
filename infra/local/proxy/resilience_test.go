package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// startProxyWithChecks serves cfg like the worker does, health checks included.
func startProxyWithChecks(t *testing.T, cfg *Config) (addr string, px *proxy, metrics *metricsRegistry) {
	metrics = newMetricsRegistry()
	px = newProxy(newRouter(cfg, metrics, newEndpointTable()), newClientCache())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(px)
	go srv.Serve(ln)
	stop := make(chan struct{})
	checker := newHealthChecker(px.current.Load)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				_, timeout := cfg.HealthCheck.durations()
				checker.checkAll(t.Context(), px.current.Load(), timeout)
			}
		}
	}()
	t.Cleanup(func() { close(stop); srv.Shutdown() })
	return ln.Addr().String(), px, metrics
}

// statusUpstream answers path /health with healthStatus and anything else with its name.
func statusUpstream(t *testing.T, name string, healthStatus *atomic.Int32) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/health" {
			ctx.SetStatusCode(int(healthStatus.Load()))
			return
		}
		ctx.SetBodyString(name)
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// resettingUpstream reads a request and closes the connection without answering.
func resettingUpstream(t *testing.T, seen *atomic.Int32) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReader(c)
				if _, err := http.ReadRequest(r); err == nil {
					seen.Add(1)
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func do(t *testing.T, addr, method, body string) (int, string) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(fmt.Sprintf("http://%s/", addr))
	req.Header.SetMethod(method)
	if body != "" {
		req.SetBodyString(body)
	}
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Body())
}

func metricValue(m *metricsRegistry, r *router, series string) string {
	var b strings.Builder
	if err := m.write(&b, r); err != nil {
		return "error: " + err.Error()
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}

// With every endpoint of the weighted color dead, requests go to the other
// color: none fails, and the retries and the ejection are counted.
func TestDeadColorFailsOverToTheLiveOneWithoutAFailedRequest(t *testing.T) {
	cfg := &Config{Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{deadAddr(t), deadAddr(t)}},
		"green": {Weight: 0, Endpoints: []string{upstream(t, "green")}},
	}}
	addr, px, metrics := startProxyWithChecks(t, cfg)
	for i := 0; i < 200; i++ {
		for _, method := range []string{"GET", "POST"} {
			if status, body := do(t, addr, method, "payload"); status != 200 || body != "green" {
				t.Fatalf("%s %d: %d %q", method, i, status, body)
			}
		}
	}
	r := px.current.Load()
	if got := metricValue(metrics, r, `cutover_proxy_retries_total{pool="blue",version=""}`); got == "0" || got == "" {
		t.Fatalf("retries: %q", got)
	}
	if got := metricValue(metrics, r, `cutover_proxy_ejections_total{pool="blue",version=""}`); got == "0" || got == "" {
		t.Fatalf("ejections: %q", got)
	}
	if got := metricValue(metrics, r, fmt.Sprintf(`cutover_proxy_endpoint_up{endpoint=%q,pool="blue",version=""}`, cfg.Pools["blue"].Endpoints[0])); got != "0" {
		t.Fatalf("endpoint_up of a dead endpoint: %q", got)
	}
	if got := metricValue(metrics, r, `cutover_proxy_upstream_failures_total{pool="blue",version=""}`); got != "0" {
		t.Fatalf("failures: %q", got)
	}
}

// A connection that breaks after the request was sent is retried for a
// bodiless GET, never for a POST, which the upstream may have acted on.
func TestOnlySafeRequestsAreRetriedAfterTheyWereSent(t *testing.T) {
	var seen atomic.Int32
	cfg := &Config{Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{resettingUpstream(t, &seen)}},
		"green": {Weight: 0, Endpoints: []string{upstream(t, "green")}},
	}}
	addr := startProxy(t, cfg)
	if status, body := do(t, addr, "GET", ""); status != 200 || body != "green" {
		t.Fatalf("GET: %d %q", status, body)
	}
	before := seen.Load()
	if status, _ := do(t, addr, "POST", "charge the card"); status != 502 {
		t.Fatalf("POST after the upstream read it: got %d, want 502", status)
	}
	if seen.Load() != before+1 {
		t.Fatalf("the POST reached the upstream %d times", seen.Load()-before)
	}
}

// Active checks take an endpoint failing its health path out of rotation
// and put it back when it passes again.
func TestHealthChecksTakeEndpointsOutAndBackIn(t *testing.T) {
	var sick, well atomic.Int32
	sick.Store(200)
	well.Store(200)
	cfg := &Config{HealthCheck: HealthCheck{Path: "/health", TimeoutMs: 500}, Pools: map[string]Pool{
		"blue": {Weight: 100, Endpoints: []string{statusUpstream(t, "sick", &sick), statusUpstream(t, "well", &well)}},
	}}
	addr, px, _ := startProxyWithChecks(t, cfg)
	sick.Store(503)
	waitFor(t, func() bool { return !px.current.Load().pools[0].states[0].available(time.Now().UnixNano()) })
	for i := 0; i < 50; i++ {
		if _, body := do(t, addr, "GET", ""); body != "well" {
			t.Fatalf("request %d went to %q", i, body)
		}
	}
	sick.Store(200)
	waitFor(t, func() bool { return px.current.Load().pools[0].states[0].available(time.Now().UnixNano()) })
	bodies := map[string]int{}
	for i := 0; i < 50; i++ {
		_, body := do(t, addr, "GET", "")
		bodies[body]++
	}
	if bodies["sick"] == 0 || bodies["well"] == 0 {
		t.Fatalf("after recovery: %v", bodies)
	}
	var report []EndpointReport
	raw, _ := json.Marshal(reportEndpoints(px.current.Load()))
	json.Unmarshal(raw, &report)
	if len(report) != 2 || !report[0].Up || report[0].LastCheck == nil {
		t.Fatalf("endpoints report: %s", raw)
	}
}

// Ejection backs off: each new ejection of the same endpoint lasts longer.
func TestEjectionBacksOff(t *testing.T) {
	e := &endpointState{addr: "x"}
	boom := fmt.Errorf("refused")
	var durations []time.Duration
	for round := 0; round < 3; round++ {
		e.ejectedUntil.Store(0)
		for i := 0; i < ejectAfterFailures; i++ {
			e.failed(boom)
		}
		durations = append(durations, time.Until(time.Unix(0, e.ejectedUntil.Load())))
	}
	if !(durations[0] < durations[1] && durations[1] < durations[2]) || durations[2] > maxEjection {
		t.Fatalf("back-off: %v", durations)
	}
	e.ejectedUntil.Store(time.Now().Add(-time.Millisecond).UnixNano())
	e.succeeded()
	if e.backoffLevel != 0 || !e.available(time.Now().UnixNano()) {
		t.Fatalf("a success after the ejection did not reset it")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
