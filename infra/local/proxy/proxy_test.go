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
	px := newProxy(newRouter(cfg, newMetricsRegistry(), newEndpointTable()), newClientCache())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(px)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
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
	cfg := &Config{ForceHeader: "X-Cutover-Pool", Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{upstream(t, "blue")}},
		"green": {Weight: 0, Endpoints: []string{upstream(t, "green")}},
	}}
	addr := startProxy(t, cfg)
	if _, body := get(t, addr, map[string]string{"x-cutover-pool": "green"}); body != "green" {
		t.Fatalf("lower-case force header: got %q", body)
	}
	if _, body := get(t, addr, nil); body != "blue" {
		t.Fatalf("weights: got %q", body)
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
