package main

// The request ID on both data planes, through the real supervisor and
// worker: the instance gets exactly one X-Request-Id, the client's own if
// it sent one acceptable ID, a new UUID otherwise; the answer carries it
// back (unless the instance named its own), the balancer's own answers too,
// and the access log line of the request carries the same.

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// requestIDUpstream answers with the X-Request-Id values it was sent, joined by "|".
func requestIDUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		var seen []string
		for _, v := range ctx.Request.Header.PeekAll(requestIDHeader) {
			seen = append(seen, string(v))
		}
		ctx.SetBodyString(strings.Join(seen, "|"))
		if string(ctx.Path()) == "/id/app-names-its-own" {
			// Named as an application might spell it: the answer keeps it.
			ctx.Response.Header.DisableNormalizing()
			ctx.Response.Header.Set("X-Request-ID", "from-the-app")
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func TestRequestIDReachesTheInstanceAndTheAccessLogOnBothDataPlanes(t *testing.T) {
	onBothDataPlanes(t, func(t *testing.T, start func(*Config) *haproxyBalancer) {
		cfg := &Config{AccessLog: true, ForceHeader: "X-Cutover-Pool", ForceKey: testForceKey, Pools: map[string]Pool{
			"blue":  {Weight: 100, Endpoints: []string{requestIDUpstream(t)}, Version: "v1"},
			"green": {Weight: 0, Endpoints: []string{deadAddr(t)}, Version: "v2"},
		}}
		b := start(cfg)
		cases := []struct {
			name string
			sent []string
			kept bool
		}{
			{"none", nil, false},
			{"acceptable", []string{"smoke-42.a:b_C"}, true},
			{"with-a-space", []string{"two words"}, false},
			{"with-a-comma", []string{"a,b"}, false},
			{"too-long", []string{strings.Repeat("x", 129)}, false},
			{"longest", []string{strings.Repeat("y", 128)}, true},
			{"two", []string{"first", "second"}, false},
			{"app-names-its-own", []string{"sent-by-the-client"}, true},
		}
		seen := map[string]string{}
		for _, c := range cases {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://" + b.status.Listen + "/id/" + c.name)
			for _, v := range c.sent {
				req.Header.Add(requestIDHeader, v)
			}
			if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
				t.Fatalf("%s: %d %v", c.name, resp.StatusCode(), err)
			}
			got, answered := string(resp.Body()), string(resp.Header.Peek(requestIDHeader))
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
			if c.kept && got != c.sent[0] || !c.kept && !uuidV4.MatchString(got) {
				t.Fatalf("%s: the instance got X-Request-Id %q (sent %q)", c.name, got, c.sent)
			}
			// The answer carries it back, unless the instance named its own.
			if want := map[bool]string{true: "from-the-app", false: got}[c.name == "app-names-its-own"]; answered != want {
				t.Fatalf("%s: the answer's X-Request-Id is %q, want %q", c.name, answered, want)
			}
			seen["/id/"+c.name] = got
		}
		// The balancer's own answer (its pool's only instance refuses) carries one too.
		status, body, answered := forcedToDeadPool(t, b.status.Listen)
		if status < 500 || !uuidV4.MatchString(answered) {
			t.Fatalf("the balancer's own answer: %d %q, X-Request-Id %q", status, body, answered)
		}
		if seen["/id/none"] == seen["/id/two"] {
			t.Fatalf("two requests got the same new ID %q", seen["/id/none"])
		}
		logged := map[string]string{}
		waitFor(t, func() bool {
			raw, _ := os.ReadFile(filepath.Join(filepath.Dir(b.config), "access.log"))
			for _, e := range parseAccessLog(t, raw) {
				logged[e.Path] = e.RequestID
			}
			return len(logged) >= len(cases)
		})
		for path, id := range seen {
			if logged[path] != id {
				t.Fatalf("%s: the access log has request ID %q, the instance got %q", path, logged[path], id)
			}
		}
	})
}

// forcedToDeadPool sends a request forced to the pool whose instance is gone: the balancer answers it itself.
func forcedToDeadPool(t *testing.T, addr string) (int, string, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/forced")
	req.Header.Set("X-Cutover-Pool", "green:"+testForceKey)
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Body()), string(resp.Header.Peek(requestIDHeader))
}

// A switch (101) is an answer too: its relayed head carries the ID, on both data planes.
func TestUpgradeAnswerCarriesTheRequestIDOnBothDataPlanes(t *testing.T) {
	onBothDataPlanes(t, func(t *testing.T, start func(*Config) *haproxyBalancer) {
		cfg := &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upgradeUpstream(t, "blue")}}}}
		b := start(cfg)
		_, br, head := dialUpgrade(t, b.status.Listen, "X-Request-Id: ws-1\r\n")
		// Compared without case: HAProxy writes header names in lower case.
		if !strings.HasPrefix(head, "HTTP/1.1 101") || !strings.Contains(strings.ToLower(head), "\r\nx-request-id: ws-1\r\n") {
			t.Fatalf("the switch's head: %q", head)
		}
		if line, _ := br.ReadString('\n'); line != "blue ready\n" {
			t.Fatalf("first bytes: %q", line)
		}
		_, _, head = dialUpgrade(t, b.status.Listen, "")
		id := regexp.MustCompile(`(?i)\r\nX-Request-Id: ([^\r]*)\r\n`).FindStringSubmatch(head)
		if id == nil || !uuidV4.MatchString(id[1]) {
			t.Fatalf("the switch's head without an ID sent: %q", head)
		}
	})
}

func TestWithRequestIDAddsTheFieldOnlyWhereNoneIs(t *testing.T) {
	id := []byte("abc")
	for _, tc := range []struct{ head, want string }{
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nX-Request-Id: abc\r\n\r\n"},
		{"HTTP/1.1 101 Switching Protocols\nUpgrade: echo\n\n", "HTTP/1.1 101 Switching Protocols\nUpgrade: echo\nX-Request-Id: abc\n\n"},
		{"HTTP/1.1 101 Switching Protocols\r\nx-request-id: own\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\nx-request-id: own\r\n\r\n"},
		{"HTTP/1.1 101 Switching Protocols\r\nX-Request-Ids: other\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\nX-Request-Ids: other\r\nX-Request-Id: abc\r\n\r\n"},
	} {
		if got := string(withRequestID([]byte(tc.head), id)); got != tc.want {
			t.Fatalf("withRequestID(%q) = %q, want %q", tc.head, got, tc.want)
		}
	}
}
