package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Upgrade requests (WebSocket above all) are tunnelled. The endpoint is
// picked as for any request (weights, stickiness, the keyed force header, the
// next endpoint after a refused connection); it gets the request with its
// Upgrade and Connection headers. When it switches protocols (101) the
// client's and the endpoint's connections are spliced until either side
// closes; any other answer goes back as an ordinary response.

const (
	tunnelDialTimeout = 5 * time.Second
	maxResponseHead   = 64 << 10
)

var errHeadTooLarge = errors.New("upstream response head too large")

func isUpgrade(req *fasthttp.Request) bool {
	return req.Header.ConnectionUpgrade() && len(req.Header.Peek("Upgrade")) > 0
}

// tunnel passes an upgrade through; it says where it went, and the status
// when the upgrade was switched to (the answer then is not ctx's).
func (p *proxy) tunnel(r *router, chosen *upstreamPool, forced bool, ctx *fasthttp.RequestCtx, start time.Time) served {
	var upstream net.Conn
	var endpoint string
	pool := chosen
	r.attempts(chosen, forced, time.Now().UnixNano(), func(candidate *upstreamPool, i int) bool {
		conn, err := net.DialTimeout("tcp", candidate.endpoints[i], tunnelDialTimeout)
		if err != nil {
			if candidate.states[i].failed(err) {
				candidate.metrics.ejections.Add(1)
			}
			candidate.metrics.of(forced).retries.Add(1)
			return true
		}
		candidate.states[i].succeeded()
		upstream, pool, endpoint = conn, candidate, candidate.endpoints[i]
		return false
	})
	if upstream == nil {
		p.badGateway(chosen.metrics.of(forced), ctx, start)
		return served{pool: chosen, forced: forced}
	}
	// The instance answers the upgrade within the upstream timeout, as any request.
	upstream.SetDeadline(time.Now().Add(r.cfg.upstreamTimeout()))
	bw := bufio.NewWriter(upstream)
	if err := ctx.Request.Write(bw); err != nil || bw.Flush() != nil {
		upstream.Close()
		p.failedUpstream(pool.metrics.of(forced), ctx, start, err)
		return served{pool: pool, forced: forced}
	}
	br := bufio.NewReader(upstream)
	head, status, err := readResponseHead(br)
	if err != nil {
		upstream.Close()
		p.failedUpstream(pool.metrics.of(forced), ctx, start, err)
		return served{pool: pool, forced: forced}
	}
	if status != fasthttp.StatusSwitchingProtocols {
		// An endpoint that declines the upgrade answers as usual: relay that answer.
		err := ctx.Response.Read(bufio.NewReader(io.MultiReader(bytes.NewReader(head), br)))
		upstream.Close()
		if err != nil {
			p.badGateway(pool.metrics.of(forced), ctx, start)
			return served{pool: pool, forced: forced}
		}
		pool.metrics.of(forced).observe(ctx.Response.StatusCode(), time.Since(start))
		return served{pool: pool, forced: forced, instance: endpoint}
	}
	pool.metrics.of(forced).observe(status, time.Since(start))
	upstream.SetDeadline(time.Time{})
	// Copied: the request is released once the connection is hijacked.
	id := append([]byte(nil), ctx.Request.Header.Peek(requestIDHeader)...)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		defer upstream.Close()
		client.SetDeadline(time.Time{})
		if _, err := client.Write(withRequestID(head, id)); err != nil {
			return
		}
		splice(client, upstream, br)
	})
	return served{pool: pool, forced: forced, instance: endpoint, status: status}
}

// withRequestID adds the request's ID to the relayed head of a switch (101) that names none, as to any answer.
func withRequestID(head, id []byte) []byte {
	eol := []byte("\r\n")
	if !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		eol = []byte("\n")
	}
	if len(id) == 0 || !bytes.HasSuffix(head, append(append([]byte(nil), eol...), eol...)) {
		return head
	}
	for _, line := range bytes.Split(head, eol)[1:] {
		if name, _, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(name), []byte(requestIDHeader)) {
			return head
		}
	}
	end := len(head) - len(eol)
	out := make([]byte, 0, len(head)+len(requestIDHeader)+len(id)+4)
	out = append(out, head[:end]...)
	out = append(append(append(out, requestIDHeader...), ": "...), id...)
	out = append(out, eol...)
	return append(out, head[end:]...)
}

func (p *proxy) badGateway(counted *requestCounters, ctx *fasthttp.RequestCtx, start time.Time) {
	p.failedUpstream(counted, ctx, start, nil)
}

// failedUpstream answers for an instance that failed: 504 when it stayed silent past the upstream timeout, 502 otherwise.
func (p *proxy) failedUpstream(counted *requestCounters, ctx *fasthttp.RequestCtx, start time.Time, err error) {
	counted.failures.Add(1)
	ctx.Response.Reset()
	status := fasthttp.StatusBadGateway
	if err != nil && isTimeout(err) {
		status = fasthttp.StatusGatewayTimeout
	}
	ctx.Error(strings.ToLower(fasthttp.StatusMessage(status))+"\n", status)
	counted.observe(status, time.Since(start))
}

// readResponseHead reads the status line and headers, up to the blank line, as they came.
func readResponseHead(br *bufio.Reader) ([]byte, int, error) {
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, 0, err
		}
		head = append(head, line...)
		if len(head) > maxResponseHead {
			return nil, 0, errHeadTooLarge
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) <= 2 && len(head) > len(line) {
			break
		}
	}
	// "HTTP/1.1 101 Switching Protocols"
	if len(head) < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.")) {
		return nil, 0, errors.New("malformed upstream status line")
	}
	status, err := strconv.Atoi(string(head[9:12]))
	if err != nil {
		return nil, 0, err
	}
	return head, status, nil
}

// splice copies both ways until either side is done, then closes both.
func splice(client net.Conn, upstream net.Conn, fromUpstream io.Reader) {
	var once sync.Once
	done := make(chan struct{})
	stop := func() {
		once.Do(func() {
			client.Close()
			upstream.Close()
			close(done)
		})
	}
	go func() {
		io.Copy(upstream, client)
		stop()
	}()
	go func() {
		io.Copy(client, fromUpstream)
		stop()
	}()
	<-done
}
