package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint health, kept per upstream address across reloads. Two signals
// decide whether an endpoint takes requests, as in Envoy: passive outlier
// detection (consecutive transport failures eject it for a back-off that
// doubles on each ejection) and active health checks (an HTTP GET of the
// fleet's health path, or a TCP connect, every interval).

const (
	ejectAfterFailures = 3
	baseEjection       = 1 * time.Second
	maxEjection        = 30 * time.Second
	unhealthyAfter     = 2
	healthyAfter       = 1
)

type endpointState struct {
	addr string
	// hot-path fields
	consecutiveFailures atomic.Int32
	ejectedUntil        atomic.Int64 // unix nanos; 0 when not ejected
	checkedDown         atomic.Bool
	// counters
	ejections atomic.Uint64
	// guarded by mu
	mu           sync.Mutex
	backoffLevel int
	checkFails   int
	checkPasses  int
	lastError    string
	lastCheck    time.Time
}

// available says whether routing should send a request here.
func (e *endpointState) available(now int64) bool {
	return !e.checkedDown.Load() && e.ejectedUntil.Load() <= now
}

func (e *endpointState) succeeded() {
	if e.consecutiveFailures.Load() != 0 {
		e.consecutiveFailures.Store(0)
	}
	if e.ejectedUntil.Load() != 0 {
		e.mu.Lock()
		if until := e.ejectedUntil.Load(); until != 0 && until <= time.Now().UnixNano() {
			e.ejectedUntil.Store(0)
			e.backoffLevel = 0
		}
		e.mu.Unlock()
	}
}

// failed records a transport failure and reports whether it ejected the endpoint.
func (e *endpointState) failed(err error) bool {
	n := e.consecutiveFailures.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastError = err.Error()
	now := time.Now()
	if n < ejectAfterFailures || e.ejectedUntil.Load() > now.UnixNano() {
		return false
	}
	backoff := baseEjection << e.backoffLevel
	if backoff > maxEjection {
		backoff = maxEjection
	} else {
		e.backoffLevel++
	}
	e.ejectedUntil.Store(now.Add(backoff).UnixNano())
	e.consecutiveFailures.Store(0)
	e.ejections.Add(1)
	return true
}

// checked records the outcome of one active health check.
func (e *endpointState) checked(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastCheck = time.Now()
	if err != nil {
		e.lastError = err.Error()
		e.checkPasses = 0
		e.checkFails++
		if e.checkFails >= unhealthyAfter {
			e.checkedDown.Store(true)
		}
		return
	}
	e.checkFails = 0
	e.checkPasses++
	if e.checkPasses >= healthyAfter && e.checkedDown.Load() {
		e.checkedDown.Store(false)
		// A passing check ends an ejection early: the endpoint is back.
		e.ejectedUntil.Store(0)
		e.consecutiveFailures.Store(0)
	}
}

// endpointTable holds the state of every endpoint the routing names.
type endpointTable struct {
	mu    sync.RWMutex
	byKey map[string]*endpointState
}

func newEndpointTable() *endpointTable {
	return &endpointTable{byKey: map[string]*endpointState{}}
}

func (t *endpointTable) get(addr string) *endpointState {
	t.mu.RLock()
	e, ok := t.byKey[addr]
	t.mu.RUnlock()
	if ok {
		return e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok = t.byKey[addr]; !ok {
		e = &endpointState{addr: addr}
		t.byKey[addr] = e
	}
	return e
}

// keepOnly forgets endpoints no pool names any more, so a fleet's
// addresses do not linger after it is gone.
func (t *endpointTable) keepOnly(addrs map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.byKey {
		if !addrs[k] {
			delete(t.byKey, k)
		}
	}
}

// EndpointReport is one row of the admin /endpoints answer.
type EndpointReport struct {
	Pool                string     `json:"pool"`
	Endpoint            string     `json:"endpoint"`
	Up                  bool       `json:"up"`
	CheckedDown         bool       `json:"checkedDown"`
	EjectedUntil        *time.Time `json:"ejectedUntil,omitempty"`
	ConsecutiveFailures int32      `json:"consecutiveFailures"`
	Ejections           uint64     `json:"ejections"`
	LastError           string     `json:"lastError,omitempty"`
	LastCheck           *time.Time `json:"lastCheck,omitempty"`
}

func reportEndpoints(r *router) []EndpointReport {
	now := time.Now()
	out := []EndpointReport{}
	for _, p := range r.pools {
		for _, e := range p.states {
			e.mu.Lock()
			row := EndpointReport{
				Pool:                p.name,
				Endpoint:            e.addr,
				Up:                  e.available(now.UnixNano()),
				CheckedDown:         e.checkedDown.Load(),
				ConsecutiveFailures: e.consecutiveFailures.Load(),
				Ejections:           e.ejections.Load(),
				LastError:           e.lastError,
			}
			if until := e.ejectedUntil.Load(); until > now.UnixNano() {
				t := time.Unix(0, until).UTC()
				row.EjectedUntil = &t
			}
			if !e.lastCheck.IsZero() {
				t := e.lastCheck.UTC()
				row.LastCheck = &t
			}
			e.mu.Unlock()
			out = append(out, row)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pool < out[j].Pool })
	return out
}

// healthChecker probes every endpoint of the current routing each interval.
type healthChecker struct {
	current  func() *router
	interval time.Duration
	timeout  time.Duration
	client   *http.Client
}

func newHealthChecker(current func() *router) *healthChecker {
	return &healthChecker{
		current: current,
		client:  &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

func (h *healthChecker) run(ctx context.Context) {
	for {
		r := h.current()
		interval, timeout := r.cfg.HealthCheck.durations()
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		h.checkAll(ctx, h.current(), timeout)
	}
}

func (h *healthChecker) checkAll(ctx context.Context, r *router, timeout time.Duration) {
	var wg sync.WaitGroup
	seen := map[*endpointState]bool{}
	for _, p := range r.pools {
		for _, e := range p.states {
			if seen[e] {
				continue
			}
			seen[e] = true
			wg.Add(1)
			go func(e *endpointState) {
				defer wg.Done()
				e.checked(h.probe(ctx, e.addr, r.cfg.HealthCheck.Path, timeout))
			}(e)
		}
	}
	wg.Wait()
}

func (h *healthChecker) probe(ctx context.Context, addr, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if path == "" {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "cutover-proxy-health-check")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("health check %s answered %d", path, resp.StatusCode)
	}
	return nil
}
