package main

// The upstream timeout (Config.UpstreamTimeoutMs), the same on both data
// planes, through the real supervisor and worker: an instance silent for
// longer before its answer starts gets its request a 504 (an upgrade's too),
// never sent to it or another instance again; an answer that keeps coming lives on however
// long it lasts; one that stops coming is cut.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// slowUpstream answers /slow (and the upgrade asked on /upgrade, with a 200) after 1.5 s, streams /stream (a line every 200 ms for 2 s) and
// stalls /stalled after its first line; hits counts the requests that reached it.
func slowUpstream(t *testing.T, hits *atomic.Int32) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		hits.Add(1)
		flusher := w.(http.Flusher)
		pause := func(d time.Duration) bool {
			select {
			case <-time.After(d):
				return true
			case <-stop:
				return false
			}
		}
		switch r.URL.Path {
		case "/slow", "/upgrade":
			pause(1500 * time.Millisecond)
			io.WriteString(w, "late")
		case "/stream":
			for i := 0; i < 10; i++ {
				fmt.Fprintf(w, "line %d\n", i)
				flusher.Flush()
				if !pause(200 * time.Millisecond) {
					return
				}
			}
		case "/stalled":
			io.WriteString(w, "first\n")
			flusher.Flush()
			pause(5 * time.Second)
			io.WriteString(w, "never\n")
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { close(stop); srv.Close() })
	return ln.Addr().String()
}

func TestUpstreamTimeoutIsTheSilenceAnInstanceIsAllowedOnBothDataPlanes(t *testing.T) {
	onBothDataPlanes(t, func(t *testing.T, start func(*Config) *haproxyBalancer) {
		var hits atomic.Int32
		cfg := &Config{
			HealthCheck: HealthCheck{Path: "/healthz", IntervalMs: 200, TimeoutMs: 500},
			Pools:       map[string]Pool{"blue": {Weight: 100, Endpoints: []string{slowUpstream(t, &hits), slowUpstream(t, &hits)}}},
		}
		b := start(cfg)
		// Changed on the running balancer, as an environment's settings are.
		b.cfg.UpstreamTimeoutMs = 1000
		b.apply()
		b.waitShowing(func() bool { return strings.Contains(b.admin("/config"), `"upstreamTimeoutMs":1000`) }, "/config")
		client := &http.Client{Timeout: 10 * time.Second}
		base := "http://" + b.status.Listen

		// Silent for 1.5 s before its answer: a 504 after the timeout, and the request reached one instance once.
		hits.Store(0)
		started := time.Now()
		resp, err := client.Get(base + "/slow")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(started)
		if resp.StatusCode != http.StatusGatewayTimeout || took < 900*time.Millisecond || took > 1400*time.Millisecond {
			t.Fatalf("a silent instance: %d after %v, want 504 after about 1s", resp.StatusCode, took)
		}
		time.Sleep(700 * time.Millisecond)
		if n := hits.Load(); n != 1 {
			t.Fatalf("the timed-out GET reached the instances %d times, want once", n)
		}

		// An upgrade the instance does not answer in time: a 504 too.
		upgrade, _ := http.NewRequest("GET", base+"/upgrade", nil)
		upgrade.Header.Set("Connection", "Upgrade")
		upgrade.Header.Set("Upgrade", "websocket")
		upgrade.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		upgrade.Header.Set("Sec-WebSocket-Version", "13")
		started = time.Now()
		resp, err = client.Do(upgrade)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if took := time.Since(started); resp.StatusCode != http.StatusGatewayTimeout || took > 1400*time.Millisecond {
			t.Fatalf("an unanswered upgrade: %d after %v, want 504 after about 1s", resp.StatusCode, took)
		}

		// A stream of 2 s, never silent for 1 s: it arrives whole.
		resp, err = client.Get(base + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || strings.Count(string(body), "\n") != 10 {
			t.Fatalf("a 2 s stream: %d %q %v", resp.StatusCode, body, err)
		}

		// An answer that stops coming is cut after the timeout: the client gets its start, then the end of the connection.
		started = time.Now()
		resp, err = client.Get(base + "/stalled")
		if err != nil {
			t.Fatal(err)
		}
		first, _ := bufio.NewReader(resp.Body).ReadString('\n')
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took = time.Since(started)
		if resp.StatusCode != 200 || first != "first\n" || err == nil || strings.Contains(string(rest), "never") || took > 3*time.Second {
			t.Fatalf("a stalled answer: %d %q then %q (%v) after %v, want it cut after about 1s", resp.StatusCode, first, rest, err, took)
		}
	})
}
