package main

import (
	"errors"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// proxy serves the listen port. Routing state sits behind an atomic
// pointer; the listener and its connections are never touched by a reload.
// It is built on fasthttp because the proxy sits on the path of every
// request and net/http's reverse proxy costs several times more per request.
type proxy struct {
	current atomic.Pointer[router]
	clients *clientCache
	access  accessLogs
}

// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func newProxy(r *router, clients *clientCache) *proxy {
	p := &proxy{clients: clients}
	p.current.Store(r)
	clients.silence.Store(int64(r.cfg.upstreamTimeout()))
	return p
}

// swap puts a new router in force and wakes the requests the old one held.
func (p *proxy) swap(r *router) {
	p.clients.silence.Store(int64(r.cfg.upstreamTimeout()))
	close(p.current.Swap(r).replaced)
}

func (p *proxy) serve(ctx *fasthttp.RequestCtx) {
	r := p.current.Load()
	// Copied: handling changes the request's headers, and with them what Peek's answer points into.
	var kept [requestIDMax]byte
	id := kept[:copy(kept[:], requestID(&ctx.Request.Header))]
	defer answerRequestID(&ctx.Response.Header, id)
	if !r.cfg.AccessLog {
		p.handle(ctx, r)
		return
	}
	start := time.Now()
	// The path as it came, up to its query string (ctx.URI() would parse the URI, and the request then
	// goes on with its path normalised: logging must not change what the instance is sent).
	target := originPath(ctx.Request.Header.RequestURI())
	e := accessEntry{Time: accessTime(start), Client: ctx.RemoteIP().String(), Method: string(ctx.Method()), Path: string(target), RequestID: string(id)}
	s := p.handle(ctx, r)
	e.Status, e.DurationMs, e.Instance = ctx.Response.StatusCode(), millis(time.Since(start)), s.instance
	if s.status != 0 {
		e.Status = s.status
	}
	if s.pool != nil {
		e.Pool, e.Version, e.Forced = s.pool.name, s.pool.version, s.forced
	}
	p.access.write(&e)
}

// served is where handle sent a request: its pool (none when nothing routed
// it), the instance that answered, and the status when it is not the
// response's (an upgrade switched to).
type served struct {
	pool     *upstreamPool
	forced   bool
	instance string
	status   int
}

func (p *proxy) handle(ctx *fasthttp.RequestCtx, r *router) served {
	// Every answer over TLS carries HSTS when asked for: the pools', the maintenance page, the proxy's own errors.
	if t := r.cfg.TLS; t != nil && t.HSTSMaxAgeSeconds > 0 && ctx.IsTLS() {
		defer ctx.Response.Header.Set("Strict-Transport-Security", "max-age="+strconv.Itoa(t.HSTSMaxAgeSeconds))
	}
	pool, forced := r.pick(fastKeys{&ctx.Request.Header})
	if r.cfg.Maintenance != nil && !forced {
		if r = p.maintain(ctx, r); r == nil {
			return served{}
		}
		pool, forced = r.pick(fastKeys{&ctx.Request.Header})
	}
	if pool == nil {
		ctx.Error("no pool has traffic\n", fasthttp.StatusServiceUnavailable)
		return served{}
	}
	start := time.Now()
	req := &ctx.Request
	// The force header carries the key: the instance never sees it.
	if r.cfg.forcing() {
		req.Header.Del(r.cfg.ForceHeader)
	}
	req.Header.Add("X-Forwarded-For", ctx.RemoteIP().String())
	if ctx.IsTLS() {
		req.Header.Set("X-Forwarded-Proto", "https")
		// TLS ends here: instances are spoken to in plain HTTP.
		req.URI().SetScheme("http")
	} else {
		req.Header.Set("X-Forwarded-Proto", "http")
	}
	req.Header.SetBytesV("X-Forwarded-Host", req.Host())
	if isUpgrade(req) {
		return p.tunnel(r, pool, forced, ctx, start)
	}
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}

	counted := pool.metrics.of(forced)
	last, err := p.forward(r, pool, forced, ctx)
	if err != nil && r.cfg.HoldWhenUnavailableMs > 0 && isConnectError(err) {
		pool, last, err = p.holdThroughOutage(ctx, r, pool, forced)
	}
	if err != nil {
		p.failedUpstream(counted, ctx, start, err)
	} else {
		for _, h := range hopHeaders[:5] {
			ctx.Response.Header.Del(h)
		}
		counted.observe(ctx.Response.StatusCode(), time.Since(start))
	}
	if err != nil || last.pool == nil {
		return served{pool: pool, forced: forced}
	}
	return served{pool: last.pool, forced: forced, instance: last.endpoint}
}

// forward sends the request to an endpoint and, when an attempt fails in a
// way that is safe to repeat, to the next one (nginx's proxy_next_upstream).
// Every transport failure counts against its endpoint for passive ejection.
// It says which endpoint it tried last, and its pool: the one that
// answered, without an error (a routed request may pass to another pool).
func (p *proxy) forward(r *router, chosen *upstreamPool, forced bool, ctx *fasthttp.RequestCtx) (tried, error) {
	var err error
	var last tried
	attempts := 0
	repeatable := isBodilessRead(&ctx.Request)
	r.attempts(chosen, forced, time.Now().UnixNano(), func(pool *upstreamPool, i int) bool {
		if attempts > 0 {
			ctx.Response.Reset()
		}
		attempts++
		last = tried{pool, pool.endpoints[i]}
		err = p.clients.get(last.endpoint).Do(&ctx.Request, &ctx.Response)
		state := pool.states[i]
		if err == nil {
			state.succeeded()
			return false
		}
		if state.failed(err) {
			pool.metrics.ejections.Add(1)
			log.Printf("ejected %s (pool %s): %v", pool.endpoints[i], pool.name, err)
		}
		if isConnectError(err) || (repeatable && isTransportError(err)) {
			pool.metrics.of(forced).retries.Add(1)
			return true
		}
		return false
	})
	return last, err
}

// tried is an endpoint a request was sent to, and its pool.
type tried struct {
	pool     *upstreamPool
	endpoint string
}

// isBodilessRead tells requests that can be sent again after a failure in
// flight: safe methods without a body (RFC 9110 §9.2.1), as nginx retries them.
func isBodilessRead(req *fasthttp.Request) bool {
	m := req.Header.Method()
	safe := string(m) == fasthttp.MethodGet || string(m) == fasthttp.MethodHead || string(m) == fasthttp.MethodOptions
	// fasthttp reports -2 for a request with neither Content-Length nor chunked encoding: no body.
	cl := req.Header.ContentLength()
	return safe && (cl == 0 || cl == -2) && !req.IsBodyStream()
}

// isTransportError tells failures of the connection itself (closed or reset
// before a response), as opposed to timeouts, where the upstream may still be working.
func isTransportError(err error) bool {
	return errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// isTimeout tells an instance that stayed silent longer than the upstream timeout.
func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

// isConnectError tells errors where nothing reached the upstream, so that
// trying another endpoint of the pool is safe for every method.
func isConnectError(err error) bool {
	var dialErr *fasthttp.ErrDialWithUpstream
	if errors.As(err, &dialErr) || errors.Is(err, fasthttp.ErrDialTimeout) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// clientCache keeps one connection pool per upstream address across
// reloads, so a weight change never drops idle upstream connections.
type clientCache struct {
	mu      sync.Mutex
	clients map[string]*fasthttp.HostClient
	// silence is the upstream timeout in force (a time.Duration): how long
	// a connection to an instance may wait for its next read or write.
	silence atomic.Int64
	dialer  fasthttp.TCPDialer
}

func newClientCache() *clientCache {
	return &clientCache{clients: map[string]*fasthttp.HostClient{}}
}

func (c *clientCache) get(addr string) *fasthttp.HostClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	hc, ok := c.clients[addr]
	if !ok {
		hc = &fasthttp.HostClient{
			Addr:                          addr,
			MaxConns:                      4096,
			MaxIdleConnDuration:           60 * time.Second,
			StreamResponseBody:            true,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			// A deadline for the whole answer (ReadTimeout) would cut every stream longer than
			// it: the connection itself gives each read and write the upstream timeout instead.
			Dial: c.dial,
			// fasthttp sends a GET, HEAD or PUT again on the same instance when its connection
			// fails; never after a timeout, where the instance may still be working on it.
			RetryIfErr: func(req *fasthttp.Request, _ int, err error) (bool, bool) {
				return false, !isTimeout(err) && (req.Header.IsGet() || req.Header.IsHead() || req.Header.IsPut())
			},
		}
		c.clients[addr] = hc
	}
	return hc
}

func (c *clientCache) dial(addr string) (net.Conn, error) {
	conn, err := c.dialer.Dial(addr)
	if err != nil {
		return nil, err
	}
	return &silenceBound{Conn: conn, silence: &c.silence}, nil
}

// silenceBound is a connection to an instance on which each read and write
// may wait at most the upstream timeout: a stream that keeps coming lives
// on, an instance that stops answering is given up.
type silenceBound struct {
	net.Conn
	silence *atomic.Int64
}

func (c *silenceBound) Read(b []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(time.Duration(c.silence.Load())))
	return c.Conn.Read(b)
}

func (c *silenceBound) Write(b []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(time.Duration(c.silence.Load())))
	return c.Conn.Write(b)
}

// fastKeys reads routing keys from a fasthttp request.
type fastKeys struct{ h *fasthttp.RequestHeader }

func (k fastKeys) header(name string) string { return string(k.h.Peek(name)) }
func (k fastKeys) cookie(name string) string { return string(k.h.Cookie(name)) }
