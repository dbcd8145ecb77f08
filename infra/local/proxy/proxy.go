package main

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"
)

type ctxKey struct{}

// routed travels with a request from the handler to the transport.
type routed struct {
	pool   *upstreamPool
	status int
}

// proxy serves the listen port. Routing state sits behind an atomic pointer;
// the listener and its connections are never touched by a reload.
type proxy struct {
	current atomic.Pointer[router]
	rp      *httputil.ReverseProxy
}

func newProxy(r *router) *proxy {
	p := &proxy{}
	p.current.Store(r)
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       60 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.SetXForwarded()
		},
		Transport:     &retryingTransport{inner: transport},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if rt, ok := resp.Request.Context().Value(ctxKey{}).(*routed); ok {
				rt.status = resp.StatusCode
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if rt, ok := req.Context().Value(ctxKey{}).(*routed); ok {
				rt.status = http.StatusBadGateway
				rt.pool.metrics.failures.Add(1)
			}
			if !errors.Is(err, context.Canceled) {
				log.Printf("upstream error: %v", err)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return p
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := p.current.Load()
	pool := r.pick(req)
	if pool == nil {
		http.Error(w, "no pool has traffic", http.StatusServiceUnavailable)
		return
	}
	start := time.Now()
	rt := &routed{pool: pool}
	p.rp.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), ctxKey{}, rt)))
	pool.metrics.observe(rt.status, time.Since(start))
}

// retryingTransport picks the endpoint and moves on to the next endpoint of
// the same pool when a connection cannot be made. Nothing has reached an
// upstream when a dial fails, so the retry is safe for every method.
type retryingTransport struct {
	inner *http.Transport
}

func (t *retryingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := req.Context().Value(ctxKey{}).(*routed)
	var lastErr error
	for attempt := 0; attempt < len(rt.pool.endpoints)+1; attempt++ {
		req.URL.Host = rt.pool.endpoint(uint64(attempt))
		resp, err := t.inner.RoundTrip(req)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" {
			return nil, err
		}
	}
	return nil, lastErr
}
