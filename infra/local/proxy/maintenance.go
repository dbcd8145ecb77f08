package main

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Maintenance, while a config carries it, keeps requests from the pools.
// "page" answers each at once with Status (503 by default), Retry-After and
// Body; "hold" keeps each until a config without maintenance is in force and
// then routes it, or answers with the page once HoldTimeoutMs has passed.
// A request with the keyed force header still reaches the pool it names, so
// an operator can try a version behind the page.
type Maintenance struct {
	Mode              string `json:"mode"`
	Status            int    `json:"status,omitempty"`
	RetryAfterSeconds int    `json:"retryAfterSeconds,omitempty"`
	HoldTimeoutMs     int    `json:"holdTimeoutMs,omitempty"`
	Body              string `json:"body,omitempty"`
	ContentType       string `json:"contentType,omitempty"`
}

const (
	// maxHeld bounds the requests one worker holds; more get the page at once.
	maxHeld          = 10_000
	maxHoldTimeoutMs = 300_000
	maxPageBytes     = 64 << 10
	defaultHoldMs    = 30_000
	defaultPage      = "<!doctype html>\n<html lang=\"en\"><meta charset=\"utf-8\"><title>Down for maintenance</title>\n<h1>Down for maintenance</h1>\n<p>This service is being worked on and will be back shortly.</p>\n</html>\n"
)

func (m *Maintenance) validate() error {
	if m.Mode != "page" && m.Mode != "hold" {
		return fmt.Errorf("maintenance.mode must be page or hold")
	}
	if m.Status != 0 && (m.Status < 500 || m.Status > 599) {
		return fmt.Errorf("maintenance.status must be a 5xx status")
	}
	if m.RetryAfterSeconds < 0 || m.HoldTimeoutMs < 0 || m.HoldTimeoutMs > maxHoldTimeoutMs {
		return fmt.Errorf("maintenance durations must lie in [0, %d ms]", maxHoldTimeoutMs)
	}
	if len(m.Body) > maxPageBytes {
		return fmt.Errorf("maintenance.body must be at most %d bytes", maxPageBytes)
	}
	return nil
}

func (m *Maintenance) holdTimeout() time.Duration {
	if m.HoldTimeoutMs > 0 {
		return time.Duration(m.HoldTimeoutMs) * time.Millisecond
	}
	return defaultHoldMs * time.Millisecond
}

// page answers with the maintenance page.
func (m *Maintenance) page(ctx *fasthttp.RequestCtx) {
	status := m.Status
	if status == 0 {
		status = fasthttp.StatusServiceUnavailable
	}
	body, contentType := m.Body, m.ContentType
	if body == "" {
		body, contentType = defaultPage, "text/html; charset=utf-8"
	} else if contentType == "" {
		contentType = "text/html; charset=utf-8"
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType(contentType)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if m.RetryAfterSeconds > 0 {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(m.RetryAfterSeconds))
	}
	ctx.SetBodyString(body)
}

// maintenanceMetrics count what maintenance did, for the proxy's lifetime.
type maintenanceMetrics struct {
	pages    atomic.Uint64
	held     atomic.Uint64
	released atomic.Uint64
	holding  atomic.Int64
	// Requests every endpoint refused that waited for one to come back (outage.go), and those that then got an answer.
	outageHeld     atomic.Uint64
	outageAnswered atomic.Uint64
}

// maintain keeps a request from the pools while the routing in force says
// so. It returns the router to route the request by once maintenance is
// over, or nil when the request has been answered with the page.
func (p *proxy) maintain(ctx *fasthttp.RequestCtx, r *router) *router {
	m := r.cfg.Maintenance
	counts := r.maintenance
	if m.Mode != "hold" {
		counts.pages.Add(1)
		m.page(ctx)
		return nil
	}
	if counts.holding.Add(1) > maxHeld {
		counts.holding.Add(-1)
		counts.pages.Add(1)
		m.page(ctx)
		return nil
	}
	defer counts.holding.Add(-1)
	counts.held.Add(1)
	timer := time.NewTimer(m.holdTimeout())
	defer timer.Stop()
	for r.cfg.Maintenance != nil {
		if r.cfg.Maintenance.Mode != "hold" {
			break
		}
		select {
		case <-r.replaced:
			r = p.current.Load()
			continue
		case <-timer.C:
		}
		break
	}
	if r.cfg.Maintenance != nil {
		counts.pages.Add(1)
		r.cfg.Maintenance.page(ctx)
		return nil
	}
	counts.released.Add(1)
	return r
}
