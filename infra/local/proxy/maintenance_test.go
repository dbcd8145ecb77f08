package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serving runs a proxy for cfg and returns it with its address, so a test can put new routing in force.
func serving(t *testing.T, cfg *Config) (*proxy, *metricsRegistry, string) {
	return servingWith(t, cfg, func(ln net.Listener, _ *proxy) net.Listener { return ln })
}

// servingWith serves on a listener of 127.0.0.1 as wrap makes it (TLS, in tls_test.go).
func servingWith(t *testing.T, cfg *Config, wrap func(net.Listener, *proxy) net.Listener) (*proxy, *metricsRegistry, string) {
	metrics := newMetricsRegistry()
	px := newProxy(newRouter(cfg, metrics, newEndpointTable()), newClientCache())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(px)
	go srv.Serve(wrap(ln, px))
	t.Cleanup(func() { srv.Shutdown() })
	return px, metrics, ln.Addr().String()
}

type answer struct {
	status     int
	body       string
	retryAfter string
	took       time.Duration
	requestID  string
}

func ask(addr string, headers map[string]string) answer {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(fmt.Sprintf("http://%s/", addr))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
		return answer{status: -1, body: err.Error()}
	}
	return answer{resp.StatusCode(), string(resp.Body()), string(resp.Header.Peek("Retry-After")), time.Since(start), string(resp.Header.Peek(requestIDHeader))}
}

func pools(t *testing.T) map[string]Pool {
	return map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upstream(t, "blue")}}, "green": {Weight: 0, Endpoints: []string{upstream(t, "green")}}}
}

func TestMaintenancePageAnswersAtOnceButLetsTheForceKeyThrough(t *testing.T) {
	cfg := &Config{ForceHeader: "X-Cutover-Pool", ForceKey: testForceKey, Pools: pools(t), Maintenance: &Maintenance{Mode: "page", RetryAfterSeconds: 120, Body: "back at noon"}}
	_, metrics, addr := serving(t, cfg)
	a := ask(addr, nil)
	if a.status != 503 || a.body != "back at noon" || a.retryAfter != "120" || !uuidV4.MatchString(a.requestID) {
		t.Fatalf("page: %+v", a)
	}
	if a := ask(addr, map[string]string{"X-Cutover-Pool": "green:" + testForceKey}); a.status != 200 || a.body != "green" {
		t.Fatalf("forced: %+v", a)
	}
	if a := ask(addr, map[string]string{"X-Cutover-Pool": "green:wrong"}); a.status != 503 {
		t.Fatalf("a wrong key is not let through: %+v", a)
	}
	_, _, defaultAddr := serving(t, &Config{Pools: pools(t), Maintenance: &Maintenance{Mode: "page", Status: 502}})
	if a := ask(defaultAddr, nil); a.status != 502 || !strings.Contains(a.body, "Down for maintenance") || a.retryAfter != "" {
		t.Fatalf("default page: %+v", a)
	}
	if got := metrics.maintenance.pages.Load(); got != 2 {
		t.Fatalf("pages counted: %d", got)
	}
}

func TestHeldRequestsAreRoutedOnceMaintenanceEnds(t *testing.T) {
	base := pools(t)
	px, metrics, addr := serving(t, &Config{Pools: base, Maintenance: &Maintenance{Mode: "hold", HoldTimeoutMs: 10_000}})
	answers := make(chan answer, 20)
	for range 20 {
		go func() { answers <- ask(addr, nil) }()
	}
	waitUntil(t, func() bool { return metrics.maintenance.holding.Load() == 20 })
	// The switch happens while they wait: still in maintenance, now routed to green.
	switched := map[string]Pool{"blue": {Weight: 0, Endpoints: base["blue"].Endpoints}, "green": {Weight: 100, Endpoints: base["green"].Endpoints}}
	px.swap(newRouter(&Config{Pools: switched, Maintenance: &Maintenance{Mode: "hold", HoldTimeoutMs: 10_000}}, metrics, newEndpointTable()))
	time.Sleep(100 * time.Millisecond)
	if n := metrics.maintenance.holding.Load(); n != 20 {
		t.Fatalf("a config still in maintenance released %d requests", 20-n)
	}
	px.swap(newRouter(&Config{Pools: switched}, metrics, newEndpointTable()))
	for range 20 {
		if a := <-answers; a.status != 200 || a.body != "green" || a.took < 100*time.Millisecond {
			t.Fatalf("released: %+v", a)
		}
	}
	if held, released := metrics.maintenance.held.Load(), metrics.maintenance.released.Load(); held != 20 || released != 20 {
		t.Fatalf("held %d, released %d", held, released)
	}
}

func TestAHoldThatOutlastsItsTimeoutGetsThePage(t *testing.T) {
	_, _, addr := serving(t, &Config{Pools: pools(t), Maintenance: &Maintenance{Mode: "hold", HoldTimeoutMs: 300, RetryAfterSeconds: 5}})
	a := ask(addr, nil)
	if a.status != 503 || a.retryAfter != "5" || a.took < 300*time.Millisecond || a.took > 3*time.Second {
		t.Fatalf("timed out hold: %+v", a)
	}
}

func TestMaintenanceSettingsAreChecked(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{`{"mode":"pause"}`, `{"mode":"page","status":200}`, `{"mode":"hold","holdTimeoutMs":300001}`, `{"mode":"hold","retryAfterSeconds":-1}`} {
		path := filepath.Join(dir, "config.json")
		raw := fmt.Sprintf(`{"listen":"127.0.0.1:0","admin":"127.0.0.1:0","pools":{},"maintenance":%s}`, bad)
		if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "maintenance") {
			t.Fatalf("%s: accepted (%v)", bad, err)
		}
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
