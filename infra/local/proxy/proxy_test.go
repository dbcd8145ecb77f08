package main

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// upstream starts a real server on 127.0.0.1 that answers with its name.
func upstream(t *testing.T, name string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(name) }}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// deadAddr is a port bound but never listening: connecting to it is
// refused, and no other socket can take the port while the test runs.
func deadAddr(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// startProxy serves newServer's configuration on 127.0.0.1 and returns its address.
func startProxy(t *testing.T, cfg *Config) string {
	_, _, addr := serving(t, cfg)
	return addr
}

func get(t *testing.T, addr string, headers map[string]string) (int, string) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(fmt.Sprintf("http://%s/", addr))
	req.Header.DisableNormalizing()
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if err := fasthttp.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Body())
}

func TestForceHeaderInAnyCaseThroughTheServer(t *testing.T) {
	cfg := &Config{ForceHeader: "X-Cutover-Pool", ForceKey: testForceKey, Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{upstream(t, "blue")}},
		"green": {Weight: 0, Endpoints: []string{upstream(t, "green")}},
	}}
	addr := startProxy(t, cfg)
	if _, body := get(t, addr, map[string]string{"x-cutover-pool": "green:" + testForceKey}); body != "green" {
		t.Fatalf("lower-case force header: got %q", body)
	}
	if _, body := get(t, addr, nil); body != "blue" {
		t.Fatalf("weights: got %q", body)
	}
}

// headerUpstream answers with its name and the force header it received, if any.
func headerUpstream(t *testing.T, name string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/fail" {
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		}
		ctx.SetBodyString(name + "|" + string(ctx.Request.Header.Peek("X-Cutover-Pool")))
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func getPath(t *testing.T, addr, path string, headers map[string]string) (int, string) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(fmt.Sprintf("http://%s%s", addr, path))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if err := fasthttp.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Body())
}

// The force header carries the key: the proxy removes it, keyed or not, before the instance sees the request.
func TestInstancesNeverSeeTheForceHeader(t *testing.T) {
	cfg := &Config{ForceHeader: "X-Cutover-Pool", ForceKey: testForceKey, Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{headerUpstream(t, "blue")}},
		"green": {Weight: 0, Endpoints: []string{headerUpstream(t, "green")}},
	}}
	addr := startProxy(t, cfg)
	for value, want := range map[string]string{
		"green:" + testForceKey: "green|",
		"green":                 "blue|",
		"green:wrong":           "blue|",
	} {
		if _, body := getPath(t, addr, "/", map[string]string{"X-Cutover-Pool": value}); body != want {
			t.Errorf("%q: got %q, want %q", value, body, want)
		}
	}
}

// Forced requests go to their own counters: a pool's routed requests and
// errors, which analysis reads, do not move however many forced ones fail.
func TestForcedRequestsAreCountedApart(t *testing.T) {
	cfg := &Config{ForceHeader: "X-Cutover-Pool", ForceKey: testForceKey, Pools: map[string]Pool{
		"blue":  {Weight: 0, Endpoints: []string{headerUpstream(t, "blue")}, Version: "v1"},
		"green": {Weight: 100, Endpoints: []string{headerUpstream(t, "green")}, Version: "v2"},
	}}
	addr, px, m := startProxyWithChecks(t, cfg)
	forced := map[string]string{"X-Cutover-Pool": "green:" + testForceKey}
	for i := 0; i < 5; i++ {
		if status, _ := getPath(t, addr, "/fail", forced); status != 500 {
			t.Fatalf("forced request %d: status %d", i, status)
		}
	}
	for i := 0; i < 3; i++ {
		getPath(t, addr, "/", nil)
	}
	getPath(t, addr, "/", map[string]string{"X-Cutover-Pool": "blue:" + testForceKey})
	r := px.current.Load()
	for series, want := range map[string]string{
		`cutover_proxy_requests_total{pool="green",version="v2"}`:                                   "3",
		`cutover_proxy_responses_5xx_total{pool="green",version="v2"}`:                              "0",
		`cutover_proxy_request_duration_seconds_count{pool="green",version="v2"}`:                   "3",
		`cutover_proxy_forced_requests_total{pool="green",version="v2"}`:                            "5",
		`cutover_proxy_forced_responses_5xx_total{pool="green",version="v2"}`:                       "5",
		`cutover_proxy_forced_request_duration_seconds_count{pool="green",version="v2"}`:            "5",
		`cutover_proxy_forced_request_duration_seconds_bucket{pool="green",version="v2",le="+Inf"}`: "5",
		`cutover_proxy_requests_total{pool="blue",version="v1"}`:                                    "0",
		`cutover_proxy_forced_requests_total{pool="blue",version="v1"}`:                             "1",
		`cutover_proxy_forced_responses_5xx_total{pool="blue",version="v1"}`:                        "0",
	} {
		if got := metricValue(m, r, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}
}

func TestDeadEndpointIsSkippedWithoutFailingARequest(t *testing.T) {
	cfg := &Config{Pools: map[string]Pool{
		"blue": {Weight: 100, Endpoints: []string{deadAddr(t), upstream(t, "alive")}},
	}}
	addr := startProxy(t, cfg)
	for i := 0; i < 20; i++ {
		if status, body := get(t, addr, nil); status != 200 || body != "alive" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
}

func TestNoLiveEndpointIsABadGateway(t *testing.T) {
	cfg := &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{deadAddr(t)}}}}
	addr := startProxy(t, cfg)
	if status, _ := get(t, addr, nil); status != 502 {
		t.Fatalf("got %d, want 502", status)
	}
}

func getOnce(addr string) (int, string, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(fmt.Sprintf("http://%s/", addr))
	req.SetConnectionClose()
	err := fasthttp.DoTimeout(req, resp, time.Second)
	return resp.StatusCode(), string(resp.Body()), err
}

func itoa(n int) string { return fmt.Sprint(n) }

// containsState reads the state field of /proc/<pid>/stat.
func containsState(stat string, state byte) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == state
}
