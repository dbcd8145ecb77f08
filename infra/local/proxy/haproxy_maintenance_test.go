package main

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Maintenance on HAProxy, switched through its runtime API (the same
// haproxy process throughout): the page with its status, Retry-After and
// body; the force key let through; requests held until it ends and then
// routed by the weights then in force; a hold that times out given the
// page; and what it did counted in the metrics.
func TestHAProxyMaintenancePageAndHoldWithoutAReload(t *testing.T) {
	b := startHAProxyBalancer(t, &Config{Pools: pools(t), ForceHeader: "X-Pool", ForceKey: "k:ey"})
	pids := b.haproxyPids()
	if got := ask(b.status.Listen, nil); got.status != 200 || got.body != "blue" {
		t.Fatalf("before: %+v", got)
	}

	b.cfg.Maintenance = &Maintenance{Mode: "page", Status: 503, RetryAfterSeconds: 120, Body: "<p>back soon</p>"}
	b.apply()
	waitUntil(t, func() bool { return ask(b.status.Listen, nil).status == 503 })
	got := ask(b.status.Listen, nil)
	if got.body != "<p>back soon</p>" || got.retryAfter != "120" {
		t.Fatalf("the page: %+v", got)
	}
	resp, err := http.Get("http://" + b.status.Listen + "/")
	if err != nil || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-store" || !uuidV4.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Fatalf("the page's headers: %v %v", resp, err)
	}
	resp.Body.Close()
	if forced := ask(b.status.Listen, map[string]string{"X-Pool": "green:k:ey"}); forced.status != 200 || forced.body != "green" {
		t.Fatalf("the force key through maintenance: %+v", forced)
	}

	// Hold: requests wait, and once maintenance ends are routed by the weights then in force.
	b.cfg.Maintenance = &Maintenance{Mode: "hold", HoldTimeoutMs: 20_000}
	b.apply()
	waitUntil(t, func() bool { return strings.Contains(b.admin("/config"), `"mode":"hold"`) })
	time.Sleep(100 * time.Millisecond)
	var wg sync.WaitGroup
	answers := make(chan answer, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); answers <- ask(b.status.Listen, nil) }()
	}
	b.waitShowing(func() bool { return strings.Contains(b.admin("/metrics"), "\ncutover_proxy_requests_holding 10\n") }, "/metrics")
	time.Sleep(400 * time.Millisecond)
	if len(answers) != 0 {
		t.Fatalf("%d requests answered while held", len(answers))
	}
	b.cfg.Maintenance = nil
	b.cfg.Pools["blue"] = Pool{Weight: 0, Endpoints: b.cfg.Pools["blue"].Endpoints}
	b.cfg.Pools["green"] = Pool{Weight: 100, Endpoints: b.cfg.Pools["green"].Endpoints}
	b.apply()
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.status != 200 || a.body != "green" || a.took < 400*time.Millisecond {
			t.Fatalf("a held request: %+v", a)
		}
	}

	// A hold that outlasts its timeout ends with the page.
	b.cfg.Maintenance = &Maintenance{Mode: "hold", HoldTimeoutMs: 300, Body: "timed out"}
	b.apply()
	waitUntil(t, func() bool { return strings.Contains(b.admin("/config"), `"mode":"hold"`) })
	time.Sleep(100 * time.Millisecond)
	if a := ask(b.status.Listen, nil); a.status != 503 || a.body != "timed out" || a.took < 250*time.Millisecond {
		t.Fatalf("a hold past its timeout: %+v", a)
	}
	b.cfg.Maintenance = nil
	b.apply()
	waitUntil(t, func() bool { return ask(b.status.Listen, nil).status == 200 })

	// The ten let go, the one given the page (and any the last wait sent before maintenance ended, let go too).
	m := b.admin("/metrics")
	held, released := counterIn(m, "cutover_proxy_held_requests_total"), counterIn(m, "cutover_proxy_released_requests_total")
	if released < 10 || held-released != 1 || counterIn(m, "cutover_proxy_maintenance_pages_total") < 3 {
		t.Fatalf("held %d, released %d:\n%s", held, released, m)
	}
	if after := b.haproxyPids(); len(after) != 1 || after[0] != pids[0] {
		t.Fatalf("maintenance reloaded haproxy: %v, then %v", pids, after)
	}
}

// counterIn is an unlabelled counter's value in an exposition.
func counterIn(exposition, name string) int {
	for _, l := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// Turned on and off under load on kept-alive connections, maintenance
// fails no request: each gets the version or the page.
func TestHAProxyMaintenanceSwitchedUnderLoadFailsNoRequest(t *testing.T) {
	b := startHAProxyBalancer(t, &Config{Pools: pools(t)})
	var ok, pages, failed atomic.Int64
	var firstFailure atomic.Value
	stop := clients(4, func() {
		switch a := ask(b.status.Listen, nil); {
		case a.status == 200:
			ok.Add(1)
		case a.status == 503:
			pages.Add(1)
		default:
			failed.Add(1)
			firstFailure.CompareAndSwap(nil, a.body)
		}
	})
	for i := 0; i < 6; i++ {
		time.Sleep(300 * time.Millisecond)
		if i%2 == 0 {
			b.cfg.Maintenance = &Maintenance{Mode: "page"}
		} else {
			b.cfg.Maintenance = nil
		}
		b.apply()
	}
	time.Sleep(300 * time.Millisecond)
	stop()
	if failed.Load() != 0 || ok.Load() < 100 || pages.Load() < 100 {
		t.Fatalf("ok %d, pages %d, failed %d (%v)", ok.Load(), pages.Load(), failed.Load(), firstFailure.Load())
	}
}

// Requests held for maintenance when a change that needs a reload (here the
// access log) also ends it are let go by the haproxy holding them, routed
// at once, instead of waiting in it for the hold's end and its page.
func TestHAProxyHeldRequestsAreLetGoWhenAReloadEndsMaintenance(t *testing.T) {
	b := startHAProxyBalancer(t, &Config{Pools: pools(t)})
	b.cfg.Maintenance = &Maintenance{Mode: "hold", HoldTimeoutMs: 8000}
	b.apply()
	b.waitShowing(func() bool { return strings.Contains(b.admin("/config"), `"mode":"hold"`) }, "/config")
	answers := make(chan answer, 3)
	for i := 0; i < 3; i++ {
		go func() { answers <- ask(b.status.Listen, nil) }()
	}
	b.waitShowing(func() bool { return scraped(b.admin("/metrics"), "cutover_proxy_requests_holding") == 3 }, "/metrics")
	asked := time.Now()
	b.cfg.Maintenance = nil
	b.cfg.AccessLog = true
	b.apply()
	for i := 0; i < 3; i++ {
		if a := <-answers; a.status != 200 || a.body != "blue" || time.Since(asked) > 4*time.Second {
			t.Fatalf("a held request, %v after maintenance ended: %d %q", time.Since(asked), a.status, a.body)
		}
	}
}
