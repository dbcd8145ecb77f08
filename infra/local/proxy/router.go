package main

import (
	"hash/fnv"
	"math/rand/v2"
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
	weight    int
	endpoints []string
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
}

func newRouter(cfg *Config, m *metricsRegistry) *router {
	r := &router{cfg: cfg, byName: map[string]*upstreamPool{}}
	for _, name := range cfg.poolNames() {
		p := cfg.Pools[name]
		up := &upstreamPool{name: name, weight: p.Weight, endpoints: p.Endpoints, metrics: m.pool(name)}
		r.pools = append(r.pools, up)
		r.byName[name] = up
		r.totalWeight += p.Weight
	}
	return r
}

// pick chooses the pool for a request: a forcing header first, then a
// sticky key hashed onto the weight ranges, then a weighted random draw.
func (r *router) pick(req requestKeys) *upstreamPool {
	if r.cfg.ForceHeader != "" {
		if name := req.header(r.cfg.ForceHeader); name != "" {
			if p, ok := r.byName[name]; ok && len(p.endpoints) > 0 {
				return p
			}
		}
	}
	if r.totalWeight == 0 {
		return nil
	}
	if key := r.stickyKey(req); key != "" {
		h := fnv.New32a()
		h.Write([]byte(key))
		return r.byPoint(int(h.Sum32() % uint32(r.totalWeight*1000) / 1000))
	}
	return r.byPoint(rand.IntN(r.totalWeight))
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

// endpoint is the attempt-th endpoint after start: retries visit each endpoint once.
func (p *upstreamPool) endpoint(start, attempt uint64) string {
	return p.endpoints[(start+attempt)%uint64(len(p.endpoints))]
}
