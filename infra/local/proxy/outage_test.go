package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// laterUpstream holds a port bound but not listening (connections are
// refused), and serve() starts answering with name on that same socket.
func laterUpstream(t *testing.T, name string) (addr string, serve func()) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr = fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	file := os.NewFile(uintptr(fd), "later")
	t.Cleanup(func() { file.Close() })
	return addr, func() {
		if err := syscall.Listen(fd, 128); err != nil {
			t.Error(err)
			return
		}
		ln, err := net.FileListener(file)
		if err != nil {
			t.Error(err)
			return
		}
		srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(name) }}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Shutdown() })
	}
}

func TestARequestEveryEndpointRefusesWaitsForOneToComeBack(t *testing.T) {
	addr, start := laterUpstream(t, "blue")
	cfg := &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{addr}}}, HoldWhenUnavailableMs: 5000}
	_, metrics, proxyAddr := serving(t, cfg)
	go func() {
		time.Sleep(400 * time.Millisecond)
		start()
	}()
	a := ask(proxyAddr, nil)
	if a.status != 200 || a.body != "blue" || a.took < 300*time.Millisecond {
		t.Fatalf("held through the outage: %+v", a)
	}
	if held, answered := metrics.maintenance.outageHeld.Load(), metrics.maintenance.outageAnswered.Load(); held != 1 || answered != 1 {
		t.Fatalf("held %d, answered %d", held, answered)
	}
}

func TestAnOutageThatOutlastsTheHoldIsABadGateway(t *testing.T) {
	cfg := &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{deadAddr(t)}}}, HoldWhenUnavailableMs: 300}
	_, _, proxyAddr := serving(t, cfg)
	a := ask(proxyAddr, nil)
	if a.status != 502 || a.took < 300*time.Millisecond || a.took > 3*time.Second {
		t.Fatalf("after the hold: %+v", a)
	}
	// Without a hold, a refused request fails at once.
	_, _, plain := serving(t, &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{deadAddr(t)}}}})
	if a := ask(plain, nil); a.status != 502 || a.took > 200*time.Millisecond {
		t.Fatalf("without a hold: %+v", a)
	}
}

func TestAHeldRequestFollowsNewRouting(t *testing.T) {
	cfg := &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{deadAddr(t)}}, "green": {Weight: 0, Endpoints: []string{}}}, HoldWhenUnavailableMs: 5000}
	px, metrics, proxyAddr := serving(t, cfg)
	green := upstream(t, "green")
	go func() {
		time.Sleep(200 * time.Millisecond)
		px.swap(newRouter(&Config{Pools: map[string]Pool{"blue": {Weight: 0, Endpoints: cfg.Pools["blue"].Endpoints}, "green": {Weight: 100, Endpoints: []string{green}}}, HoldWhenUnavailableMs: 5000}, metrics, newEndpointTable()))
	}()
	if a := ask(proxyAddr, nil); a.status != 200 || a.body != "green" {
		t.Fatalf("after the switch: %+v", a)
	}
}

// A forced request keeps the pool it names through an outage of that pool:
// it waits for one of the pool's instances, though the other pool serves.
func TestAForcedRequestWaitsForItsOwnPool(t *testing.T) {
	addr, start := laterUpstream(t, "green")
	cfg := &Config{ForceHeader: "X-Cutover-Pool", ForceKey: testForceKey, HoldWhenUnavailableMs: 5000, Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{upstream(t, "blue")}},
		"green": {Weight: 0, Endpoints: []string{addr}},
	}}
	_, metrics, proxyAddr := serving(t, cfg)
	go func() {
		time.Sleep(400 * time.Millisecond)
		start()
	}()
	a := ask(proxyAddr, map[string]string{"X-Cutover-Pool": "green:" + testForceKey})
	if a.status != 200 || a.body != "green" || a.took < 300*time.Millisecond {
		t.Fatalf("forced to green through its outage: %+v", a)
	}
	if held, answered := metrics.maintenance.outageHeld.Load(), metrics.maintenance.outageAnswered.Load(); held != 1 || answered != 1 {
		t.Fatalf("held %d, answered %d", held, answered)
	}
}
