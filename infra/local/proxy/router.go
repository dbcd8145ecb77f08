package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync/atomic"
)

// requestKeys is what routing reads from a request.
type requestKeys interface {
	header(name string) string
	cookie(name string) string
}

// upstreamPool is the routing-time view of a Pool: endpoints plus a
// round-robin cursor and its metrics.
type upstreamPool struct {
	name      string
	version   string
	weight    int
	endpoints []string
	states    []*endpointState
	next      atomic.Uint64
	metrics   *poolMetrics
}

// router is immutable once built; a reload builds a new one and swaps the
// pointer, so requests in flight finish on the routing table they started on.
type router struct {
	cfg         *Config
	pools       []*upstreamPool
	byName      map[string]*upstreamPool
	totalWeight int
	// forceKey is the SHA-256 of the config's force key: comparing digests
	// takes the same time whatever the length of the key a request sends.
	forceKey [sha256.Size]byte
	// replaced is closed once a newer router is in force: held requests look again.
	replaced    chan struct{}
	maintenance *maintenanceMetrics
}

func newRouter(cfg *Config, m *metricsRegistry, table *endpointTable) *router {
	r := &router{cfg: cfg, byName: map[string]*upstreamPool{}, replaced: make(chan struct{}), maintenance: &m.maintenance}
	if cfg.forcing() {
		r.forceKey = sha256.Sum256([]byte(cfg.ForceKey))
	}
	named := map[string]bool{}
	series := map[poolKey]bool{}
	for _, name := range cfg.poolNames() {
		p := cfg.Pools[name]
		series[poolKey{name, p.Version}] = true
		up := &upstreamPool{name: name, version: p.Version, weight: p.Weight, endpoints: p.Endpoints, metrics: m.pool(name, p.Version)}
		for _, addr := range p.Endpoints {
			up.states = append(up.states, table.get(addr))
			named[addr] = true
		}
		r.pools = append(r.pools, up)
		r.byName[name] = up
		r.totalWeight += p.Weight
	}
	table.keepOnly(named)
	m.keepOnly(series)
	return r
}

// pick chooses the pool for a request: a keyed force header first, then a
// sticky key hashed onto the weight ranges, then a weighted random draw.
// forced says the request chose its pool itself: it is counted apart from
// the traffic the weights route, so it never sways a pool's analysis.
func (r *router) pick(req requestKeys) (pool *upstreamPool, forced bool) {
	if p := r.forcedPool(req); p != nil {
		return p, true
	}
	if r.totalWeight == 0 {
		return nil, false
	}
	if key := r.stickyKey(req); key != "" {
		h := fnv.New32a()
		h.Write([]byte(key))
		return r.byPoint(int(h.Sum32() % uint32(r.totalWeight*1000) / 1000)), false
	}
	return r.byPoint(rand.IntN(r.totalWeight)), false
}

// forcedPool is the pool a request names as `<pool>:<key>` in the force
// header, when the key is the configured one. A bare pool name, a wrong or
// missing key, or a pool without endpoints forces nothing.
func (r *router) forcedPool(req requestKeys) *upstreamPool {
	if !r.cfg.forcing() {
		return nil
	}
	name, key, ok := strings.Cut(req.header(r.cfg.ForceHeader), ":")
	if !ok {
		return nil
	}
	given := sha256.Sum256([]byte(key))
	if subtle.ConstantTimeCompare(given[:], r.forceKey[:]) != 1 {
		return nil
	}
	if p, ok := r.byName[name]; ok && len(p.endpoints) > 0 {
		return p
	}
	return nil
}

func (r *router) stickyKey(req requestKeys) string {
	if r.cfg.StickyHeader != "" {
		if v := req.header(r.cfg.StickyHeader); v != "" {
			return v
		}
	}
	if r.cfg.StickyCookie != "" {
		return req.cookie(r.cfg.StickyCookie)
	}
	return ""
}

// byPoint maps a point in [0,totalWeight) onto the pools. The last pool is
// anchored at the top of the range so that, with two pools, either one
// growing keeps every key it already had.
func (r *router) byPoint(point int) *upstreamPool {
	if len(r.pools) == 0 {
		return nil
	}
	last := r.pools[len(r.pools)-1]
	if point >= r.totalWeight-last.weight {
		return last
	}
	acc := 0
	for _, p := range r.pools[:len(r.pools)-1] {
		acc += p.weight
		if point < acc {
			return p
		}
	}
	return last
}

// start returns where a request begins its round-robin walk of the pool.
func (p *upstreamPool) start() uint64 {
	return p.next.Add(1)
}

// attempts walks the endpoints a request may try, in order: the chosen
// pool's available endpoints round-robin, then, unless the request was
// forced to its pool, those of the other pools (pools with weight first),
// each endpoint once: a forced request is answered by the version it named
// or not at all. When nothing is available at all it falls back to every
// endpoint of the chosen pool, as Envoy's panic mode does: trying beats
// refusing. visit returns false to stop.
func (r *router) attempts(chosen *upstreamPool, forced bool, now int64, visit func(p *upstreamPool, i int) bool) {
	tried := false
	walk := func(p *upstreamPool, start uint64, onlyAvailable bool) bool {
		n := uint64(len(p.endpoints))
		for k := uint64(0); k < n; k++ {
			i := int((start + k) % n)
			if onlyAvailable && !p.states[i].available(now) {
				continue
			}
			tried = true
			if !visit(p, i) {
				return false
			}
		}
		return true
	}
	if !walk(chosen, chosen.start(), true) {
		return
	}
	// A forced request keeps its pool; a routed one passes to the others, those with weight first.
	if !forced {
		for _, weighted := range []bool{true, false} {
			for _, p := range r.pools {
				if p == chosen || (p.weight > 0) != weighted {
					continue
				}
				if !walk(p, p.next.Load(), true) {
					return
				}
			}
		}
	}
	if !tried {
		walk(chosen, chosen.next.Load(), false)
	}
}
