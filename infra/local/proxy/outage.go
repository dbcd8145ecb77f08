package main

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	maxOutageHoldMs = 60_000
	// outagePoll is how often a held request looks for an endpoint again.
	outagePoll = 25 * time.Millisecond
)

var errNoPool = errors.New("no pool has traffic")

// holdThroughOutage: every endpoint refused the request's connection, so
// nothing reached an instance and any request may be sent again. It waits
// (up to HoldWhenUnavailableMs) for an endpoint to come back (a health
// check passes, an ejection ends, new routing names other instances) and
// tries again: a moment when both pools are down, as while instances
// restart or a cutover lands on a fleet still starting, costs latency
// instead of errors. A routed request is routed again by the weights then
// in force; a forced one keeps the pool it named.
func (p *proxy) holdThroughOutage(ctx *fasthttp.RequestCtx, r *router, pool *upstreamPool, forced bool) (*upstreamPool, tried, error) {
	counts := r.maintenance
	counts.outageHeld.Add(1)
	deadline := time.Now().Add(time.Duration(r.cfg.HoldWhenUnavailableMs) * time.Millisecond)
	var err error = errNoPool
	for time.Now().Before(deadline) {
		timer := time.NewTimer(outagePoll)
		select {
		case <-r.replaced:
		case <-timer.C:
		}
		timer.Stop()
		if next := p.current.Load(); next != r {
			r = next
			if forced {
				pool = r.byName[pool.name]
			} else {
				pool, _ = r.pick(fastKeys{&ctx.Request.Header})
			}
		}
		if pool == nil || !r.anyAvailable(pool, forced, time.Now().UnixNano()) {
			continue
		}
		ctx.Response.Reset()
		var last tried
		if last, err = p.forward(r, pool, forced, ctx); err == nil || !isConnectError(err) {
			if err == nil {
				counts.outageAnswered.Add(1)
			}
			return pool, last, err
		}
	}
	return pool, tried{}, err
}

// anyAvailable says whether routing has an endpoint to send a request to:
// in any pool, or in its own for a forced one.
func (r *router) anyAvailable(chosen *upstreamPool, forced bool, now int64) bool {
	for _, p := range r.pools {
		if forced && p != chosen {
			continue
		}
		for _, s := range p.states {
			if s.available(now) {
				return true
			}
		}
	}
	return false
}
