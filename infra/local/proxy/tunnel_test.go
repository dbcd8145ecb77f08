package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// upgradeUpstream answers an Upgrade to echo with 101 and then echoes every
// byte prefixed by its name; an upgrade to anything else gets 426, a plain
// request its name.
func upgradeUpstream(t *testing.T, name string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			io.WriteString(w, name)
			return
		}
		if r.Header.Get("Upgrade") != "echo" {
			w.WriteHeader(http.StatusUpgradeRequired)
			io.WriteString(w, "upgrade to echo\n")
			return
		}
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Forwarded-Host-Seen: %s\r\n\r\n%s ready\n", r.Header.Get("X-Forwarded-Host"), name)
		rw.Flush()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			fmt.Fprintf(rw, "%s: %s", name, line)
			rw.Flush()
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func dialUpgrade(t *testing.T, addr string, extra string) (net.Conn, *bufio.Reader, string) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: app.example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n%s\r\n", extra)
	br := bufio.NewReader(conn)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the handshake: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return conn, br, head.String()
		}
	}
}

func TestUpgradeIsTunnelledBothWays(t *testing.T) {
	addr := startProxy(t, &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upgradeUpstream(t, "blue")}}}})
	conn, br, head := dialUpgrade(t, addr, "")
	if !strings.HasPrefix(head, "HTTP/1.1 101") || !strings.Contains(head, "Upgrade: echo") || !strings.Contains(head, "X-Forwarded-Host-Seen: app.example") {
		t.Fatalf("handshake: %q", head)
	}
	if line, _ := br.ReadString('\n'); line != "blue ready\n" {
		t.Fatalf("first bytes from upstream: %q", line)
	}
	for i := 0; i < 100; i++ {
		fmt.Fprintf(conn, "message %d\n", i)
		if line, err := br.ReadString('\n'); err != nil || line != fmt.Sprintf("blue: message %d\n", i) {
			t.Fatalf("echo %d: %q %v", i, line, err)
		}
	}
}

func TestUpgradeFollowsRoutingAndSkipsARefusingEndpoint(t *testing.T) {
	cfg := &Config{
		ForceHeader: "X-Cutover-Color",
		ForceKey:    testForceKey,
		Pools: map[string]Pool{
			"blue":  {Weight: 100, Endpoints: []string{upgradeUpstream(t, "blue")}},
			"green": {Weight: 0, Endpoints: []string{deadAddr(t), upgradeUpstream(t, "green")}},
		},
	}
	addr := startProxy(t, cfg)
	for i := 0; i < 5; i++ {
		_, br, head := dialUpgrade(t, addr, "X-Cutover-Color: green:"+testForceKey+"\r\n")
		if !strings.HasPrefix(head, "HTTP/1.1 101") {
			t.Fatalf("handshake: %q", head)
		}
		if line, _ := br.ReadString('\n'); line != "green ready\n" {
			t.Fatalf("forced to green, got %q", line)
		}
	}
	// Without the key the upgrade is routed by weight.
	_, br, _ := dialUpgrade(t, addr, "X-Cutover-Color: green\r\n")
	if line, _ := br.ReadString('\n'); line != "blue ready\n" {
		t.Fatalf("a bare color forces nothing, got %q", line)
	}
}

func TestDeclinedUpgradeIsAnOrdinaryResponse(t *testing.T) {
	addr := startProxy(t, &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upgradeUpstream(t, "blue")}}}})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUpgradeRequired || string(body) != "upgrade to echo\n" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestUpgradeToNoEndpointIsBadGateway(t *testing.T) {
	addr := startProxy(t, &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{deadAddr(t)}}}})
	_, _, head := dialUpgrade(t, addr, "")
	if !strings.HasPrefix(head, "HTTP/1.1 502") {
		t.Fatalf("got %q", head)
	}
}
