package main

// holdWhenUnavailable on the HAProxy data path, against the real haproxy:
// every instance stopped (refusing connections) and started again under
// load costs no request, each request is counted once, in its pool's
// series; a hold that runs out answers 503.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// restartable is an upstream that can stop (its port then refuses connections) and start again on the same port.
type restartable struct {
	t    *testing.T
	name string
	addr string
	mu   sync.Mutex
	srv  *fasthttp.Server
	// handler answers in place of the name, when set.
	handler fasthttp.RequestHandler
}

func newRestartable(t *testing.T, name string) *restartable {
	return newRestartableWith(t, name, nil)
}

func newRestartableWith(t *testing.T, name string, handler fasthttp.RequestHandler) *restartable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &restartable{t: t, name: name, addr: ln.Addr().String(), handler: handler}
	u.serve(ln)
	t.Cleanup(u.stop)
	return u
}

func (u *restartable) serve(ln net.Listener) {
	handler := u.handler
	if handler == nil {
		handler = func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(u.name) }
	}
	srv := &fasthttp.Server{Handler: handler}
	u.mu.Lock()
	u.srv = srv
	u.mu.Unlock()
	go srv.Serve(ln)
}

func (u *restartable) stop() {
	u.mu.Lock()
	srv := u.srv
	u.srv = nil
	u.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

func (u *restartable) start() {
	ln, err := net.Listen("tcp", u.addr)
	if err != nil {
		u.t.Fatal(err)
	}
	u.serve(ln)
}

func scraped(metrics, series string) int {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\d+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestHAProxyHoldsRequestsWhileEveryInstanceIsDownAndCountsEachOnce(t *testing.T) {
	a, b2 := newRestartable(t, "a"), newRestartable(t, "b")
	b := startHAProxyBalancer(t, &Config{
		HoldWhenUnavailableMs: 10_000,
		HealthCheck:           HealthCheck{IntervalMs: 100, TimeoutMs: 200},
		Pools: map[string]Pool{
			"blue":  {Weight: 100, Endpoints: []string{a.addr, b2.addr}, Version: "v1"},
			"green": {Weight: 0, Endpoints: []string{}, Version: "v2"},
		},
	})
	series := `cutover_proxy_requests_total{pool="blue",version="v1"}`
	var base int
	b.waitShowing(func() bool { base = scraped(b.admin("/metrics"), series); return base >= 1 }, "/metrics")

	l := loadThrough(b)
	waitFor(t, func() bool { return l.ok.Load() > 200 })
	// Both instances stop at once, stay down long enough for their checks to fail, then come back.
	a.stop()
	b2.stop()
	time.Sleep(600 * time.Millisecond)
	during := l.ok.Load()
	a.start()
	b2.start()
	waitFor(t, func() bool { return l.ok.Load() > during+200 })
	l.stop()
	l.expectNoneFailed(t)
	// Each request counted once, in its pool's series; the held ones also as held, and answered.
	b.waitShowing(func() bool {
		m := b.admin("/metrics")
		return scraped(m, series)-base == int(l.ok.Load()) && scraped(m, "cutover_proxy_outage_holds_total") > 0 &&
			scraped(m, "cutover_proxy_outage_holds_answered_total") == scraped(m, "cutover_proxy_outage_holds_total")
	}, "/metrics")
}

func TestHAProxyHoldThatRunsOutAnswers503(t *testing.T) {
	a := newRestartable(t, "a")
	b := startHAProxyBalancer(t, &Config{
		HoldWhenUnavailableMs: 400,
		HealthCheck:           HealthCheck{IntervalMs: 100, TimeoutMs: 200},
		Pools:                 map[string]Pool{"blue": {Weight: 100, Endpoints: []string{a.addr}}},
	})
	a.stop()
	asked := time.Now()
	status, body := b.get(nil)
	// The hold, and a retry's pause (haproxy's connect timeout with the hold on) before it.
	if took := time.Since(asked); status != 503 || took > 400*time.Millisecond+time.Second || !strings.Contains(body, "no upstream available") || took < 400*time.Millisecond {
		t.Fatalf("after %v: %d %q", took, status, body)
	}
	b.waitShowing(func() bool {
		m := b.admin("/metrics")
		return scraped(m, "cutover_proxy_outage_holds_total") == 1 && scraped(m, "cutover_proxy_outage_holds_answered_total") == 0
	}, "/metrics")
}

// A held request's instance has the upstream timeout, not the timeout and
// the hold: the silence it is allowed once the request reaches it is the same
// as for a request that was never held.
func TestHAProxyHeldRequestHasItsInstanceBoundByTheUpstreamTimeout(t *testing.T) {
	a := newRestartableWith(t, "a", func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/slow" {
			time.Sleep(1500 * time.Millisecond)
		}
		ctx.SetBodyString("late")
	})
	b := startHAProxyBalancer(t, &Config{
		UpstreamTimeoutMs:     1000,
		HoldWhenUnavailableMs: 10_000,
		HealthCheck:           HealthCheck{IntervalMs: 100, TimeoutMs: 200},
		Pools:                 map[string]Pool{"blue": {Weight: 100, Endpoints: []string{a.addr}}},
	})
	a.stop()
	type answer struct {
		status int
		body   string
	}
	answered := make(chan answer, 1)
	asked := time.Now()
	go func() {
		status, body := getPath(t, b.status.Listen, "/slow", nil)
		answered <- answer{status, body}
	}()
	time.Sleep(500 * time.Millisecond)
	a.start()
	got := <-answered
	// Held until the instance's checks pass again, then cut after a second of its silence.
	if took := time.Since(asked); got.status != 504 || took > 1500*time.Millisecond+time.Second {
		t.Fatalf("after %v: %d %q, want a 504 about a second after the instance came back", took, got.status, got.body)
	}
}

func TestHAProxyWithTheHoldOnAPoolDownFailsOverToTheOtherAtOnce(t *testing.T) {
	blue, green := newRestartable(t, "blue"), newRestartable(t, "green")
	b := startHAProxyBalancer(t, &Config{
		HoldWhenUnavailableMs: 10_000,
		HealthCheck:           HealthCheck{IntervalMs: 100, TimeoutMs: 200},
		Pools: map[string]Pool{
			"blue":  {Weight: 50, Endpoints: []string{blue.addr}},
			"green": {Weight: 50, Endpoints: []string{green.addr}},
		},
	})
	blue.stop()
	// Held only until the hold finds green up (a hop), never for the hold's 10 s.
	asked := time.Now()
	got := shares(b, 200, nil)
	if got["green"] != 200 || time.Since(asked) > 5*time.Second {
		t.Fatalf("blue down, after %v: %v", time.Since(asked), got)
	}
	m := b.admin("/metrics")
	if scraped(m, "cutover_proxy_outage_holds_total") != scraped(m, "cutover_proxy_outage_holds_answered_total") {
		t.Fatalf("held requests not all answered:\n%s", m)
	}
}

// haproxy killed while requests wait in the hold: they are lost with it (in
// flight on its connections); the haproxy the worker starts holds the next
// ones from its first request, and answers them once an instance is back.
// A forced request waits for its own pool through the restart as well, the
// other pool serving routed requests meanwhile.
func TestHAProxyKilledWhileHoldingHoldsAgainFromItsStart(t *testing.T) {
	for _, forced := range []bool{false, true} {
		t.Run(map[bool]string{false: "routed", true: "forced"}[forced], func(t *testing.T) {
			down := newRestartable(t, "green")
			cfg := &Config{
				HoldWhenUnavailableMs: 20_000,
				HealthCheck:           HealthCheck{IntervalMs: 100, TimeoutMs: 200},
				Pools:                 map[string]Pool{"green": {Weight: 100, Endpoints: []string{down.addr}}},
			}
			var headers map[string]string
			if forced {
				// Green, forced to, is the pool that is down; blue takes the routed requests.
				cfg.ForceHeader, cfg.ForceKey = "X-Cutover-Pool", "k"
				cfg.Pools = map[string]Pool{
					"blue":  {Weight: 100, Endpoints: []string{newRestartable(t, "blue").addr}},
					"green": {Weight: 0, Endpoints: []string{down.addr}},
				}
				headers = map[string]string{"X-Cutover-Pool": "green:k"}
			}
			b := startHAProxyBalancer(t, cfg)
			down.stop()
			// Each request on a connection of its own, never sent again by the client (fasthttp's would be).
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
			results := func(n int) chan string {
				ch := make(chan string, n)
				for i := 0; i < n; i++ {
					go func() {
						req, _ := http.NewRequest("GET", "http://"+b.status.Listen+"/", nil)
						for k, v := range headers {
							req.Header.Set(k, v)
						}
						resp, err := client.Do(req)
						if err != nil {
							ch <- "-1 " + err.Error()
							return
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						ch <- fmt.Sprintf("%d %s", resp.StatusCode, body)
					}()
				}
				return ch
			}
			lost := results(3)
			b.waitShowing(func() bool { return scraped(b.admin("/metrics"), "cutover_proxy_outage_holds_total") == 3 }, "/metrics")
			pids := b.haproxyPids()
			if len(pids) != 1 {
				t.Fatalf("haproxy processes: %v", pids)
			}
			syscall.Kill(pids[0], syscall.SIGKILL)
			for i := 0; i < 3; i++ {
				if got := <-lost; !strings.HasPrefix(got, "-1 ") {
					t.Fatalf("a request held by the killed haproxy: %q", got)
				}
			}
			waitFor(t, func() bool { p := b.haproxyPids(); return len(p) == 1 && p[0] != pids[0] })
			held := results(3)
			// Counted across the restart: the 3 the killed one held, then the 3 the new one holds.
			b.waitShowing(func() bool { return scraped(b.admin("/metrics"), "cutover_proxy_outage_holds_total") == 6 }, "/metrics")
			if forced {
				if status, body := b.get(nil); status != 200 || body != "blue" {
					t.Fatalf("a routed request while green is held for: %d %q", status, body)
				}
			}
			down.start()
			for i := 0; i < 3; i++ {
				if got := <-held; got != "200 green" {
					t.Fatalf("a request held by the new haproxy: %q", got)
				}
			}
		})
	}
}

// A forced request keeps the pool it names through an outage of that pool,
// as on the own data path: it waits in its pool's hold for one of that
// pool's instances (the other pool serves meanwhile), is counted once in
// the pool's forced series, and a forced pool that stays down is a 503.
func TestHAProxyHoldsAForcedRequestForItsOwnPool(t *testing.T) {
	blue := newRestartable(t, "blue")
	green, startGreen := laterUpstream(t, "green")
	b := startHAProxyBalancer(t, &Config{
		ForceHeader: "X-Cutover-Pool", ForceKey: "k", HoldWhenUnavailableMs: 10_000,
		HealthCheck: HealthCheck{IntervalMs: 100, TimeoutMs: 200},
		Pools: map[string]Pool{
			"blue":  {Weight: 100, Endpoints: []string{blue.addr}, Version: "v1"},
			"green": {Weight: 0, Endpoints: []string{green}, Version: "v2"},
		},
	})
	forced := map[string]string{"X-Cutover-Pool": "green:k"}
	series := `cutover_proxy_forced_requests_total{pool="green",version="v2"}`
	b.waitShowing(func() bool { return scraped(b.admin("/metrics"), series) == 0 }, "/metrics")
	type reply struct {
		status int
		body   string
		took   time.Duration
	}
	got := make(chan reply, 1)
	asked := time.Now()
	go func() {
		// Held for as long as the test takes to bring green up, on a busy machine too.
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + b.status.Listen + "/")
		req.Header.Set("X-Cutover-Pool", "green:k")
		if err := fasthttp.DoTimeout(req, resp, 60*time.Second); err != nil {
			got <- reply{-1, err.Error(), time.Since(asked)}
			return
		}
		got <- reply{resp.StatusCode(), string(resp.Body()), time.Since(asked)}
	}()
	b.waitShowing(func() bool { return scraped(b.admin("/metrics"), "cutover_proxy_outage_holds_total") == 1 }, "/metrics")
	// Routed requests go on to blue meanwhile.
	if status, body := b.get(nil); status != 200 || body != "blue" {
		t.Fatalf("a routed request while green is down: %d %q", status, body)
	}
	startGreen()
	if r := <-got; r.status != 200 || r.body != "green" {
		t.Fatalf("forced to green through its outage, after %v: %d %q", r.took, r.status, r.body)
	}
	b.waitShowing(func() bool {
		m := b.admin("/metrics")
		return scraped(m, series) == 1 && scraped(m, "cutover_proxy_outage_holds_answered_total") == 1
	}, "/metrics")

	// Down for longer than the hold: a 503, never blue's answer.
	short := startHAProxyBalancer(t, &Config{
		ForceHeader: "X-Cutover-Pool", ForceKey: "k", HoldWhenUnavailableMs: 400,
		HealthCheck: HealthCheck{IntervalMs: 100, TimeoutMs: 200},
		Pools: map[string]Pool{
			"blue":  {Weight: 100, Endpoints: []string{blue.addr}},
			"green": {Weight: 0, Endpoints: []string{deadAddr(t)}},
		},
	})
	if status, body := short.get(forced); status != 503 || !strings.Contains(body, "no upstream available") {
		t.Fatalf("forced to a pool down for longer than the hold: %d %q", status, body)
	}
}
