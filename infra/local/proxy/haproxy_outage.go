package main

// holdWhenUnavailable on the HAProxy data path: a request no instance takes
// waits for one to come back instead of failing. With the hold on, a pool's
// backends mark an instance down at its first refused connection (passive
// ejection after one error) and try the request on the next one 100 ms
// later, so a request every instance refuses has marked them all down
// before its retries run out; its last resort is then the backend's backup
// server, a frontend of the same haproxy on a unix socket. There a Lua
// action waits (up to the hold) until a pool has an instance up by its
// health checks, and the request is sent again to backends of the same
// instances with checks of their own (`held_<backend>`). A routed request
// (from `pool_<pool>`) waits in one frontend for any pool and is routed
// again by the weights in force; a forced one (from `forced_<pool>`) waits
// in its pool's own frontend for that pool, and keeps it. A request
// arriving while every instance is down goes the same way. A held request
// is counted once: in the series of the pool that answered it.

import (
	"fmt"
	"slices"
	"strings"
)

// holdServer is the name of the backup server a pool's backend sends a request to when no instance is up.
const holdServer = "hold"

// holdRetries bounds the instances a request is tried on before it is held: a pool of up to this many is covered.
const holdRetries = 16

// holdConnectTimeoutMs is a pool's connect timeout with the hold on, and so the pause before each retry.
const holdConnectTimeoutMs = 100

// heldBackendName is the backend a request held from backend is sent to again.
func heldBackendName(backend string) string { return "held_" + backend }

func (c *Config) holding() bool { return c.HoldWhenUnavailableMs > 0 }

// holdSocket is the hold frontend's socket, relative to the balancer's directory (haproxy's working directory).
func (f haproxyFiles) holdSocket() string { return "haproxy-hold.sock" }

// forcedHoldSocket is the socket of the frontend where requests forced to the i-th pool wait.
func (f haproxyFiles) forcedHoldSocket(i int) string {
	return fmt.Sprintf("haproxy-hold-forced-%d.sock", i)
}

// renderHoldFrontend writes the frontends held requests wait in, and the rules that send them on.
func renderHoldFrontend(b *strings.Builder, c *Config, files haproxyFiles) {
	line := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	line("frontend hold")
	line("  bind unix@%s mode 600", files.holdSocket())
	// The request arrives as the balancer's frontend passed it on: its headers are set already.
	line("  option forwardfor if-none")
	line("  http-request lua.cutover_outage_hold")
	renderDraw(line, c, files)
	// The pools the Lua action found back, in preference to the others.
	names := c.poolNames()
	heldOf := func(name string) string { return heldBackendName(backendName(name)) }
	renderPoolChoice(line, names, files, heldOf, func(name string) string {
		return fmt.Sprintf("{ var(txn.back_%d) -m bool } { nbsrv(%s) gt 0 }", slices.Index(names, name), heldOf(name))
	})
	// Nothing came back within the hold.
	line("  default_backend nothing_up")
	if !c.forcing() {
		return
	}
	// A forced request waits for its own pool, and goes to it alone.
	for i, name := range names {
		held := heldBackendName(forcedBackendName(name))
		line("frontend hold_forced_%d", i)
		line("  bind unix@%s mode 600", files.forcedHoldSocket(i))
		line("  option forwardfor if-none")
		line("  http-request lua.cutover_outage_hold_pool %d", i)
		line("  use_backend %s if { var(txn.back_%d) -m bool } { nbsrv(%s) gt 0 }", held, i, held)
		line("  default_backend nothing_up")
	}
}

// renderOutageLua is the actions held requests wait in: until a pool (or the forced request's own pool) has an instance up, or the hold ends.
func renderOutageLua(c *Config) string {
	if !c.holding() {
		return ""
	}
	var routed, forced []string
	for i, name := range c.poolNames() {
		routed = append(routed, fmt.Sprintf("{ %d, %s, %s }", i, luaString(backendName(name)), luaString(heldBackendName(backendName(name)))))
		forced = append(forced, fmt.Sprintf("{ %d, %s, %s }", i, luaString(forcedBackendName(name)), luaString(heldBackendName(forcedBackendName(name)))))
	}
	return fmt.Sprintf(`
-- holdWhenUnavailable: a request no instance took waits until a pool has one up by its checks
-- (those of the backend it came from and of the one it goes to next).
local outage_pools = { %s }
local outage_forced = { %s }
local outage_ms = %d

-- A pool is back when an instance is up by the checks of both backends: the one the request
-- came from, where a refused connection marks one down at once (its active servers: nbsrv
-- would count the backup), and the one it is sent to next.
local function back(txn, p)
  local backend = core.backends[p[2]]
  local stats = backend and backend:get_stats() or {}
  return (tonumber(stats.act) or 0) > 0 and (tonumber(txn.f:nbsrv(p[3])) or 0) > 0
end

local function hold(txn, pools)
  local deadline = now_ms() + outage_ms
  while true do
    local found = false
    for _, p in ipairs(pools) do
      if back(txn, p) then
        txn:set_var("txn.back_" .. p[1], true)
        found = true
      end
    end
    if found or now_ms() >= deadline then return end
    core.msleep(25)
  end
end

core.register_action("cutover_outage_hold", { "http-req" }, function(txn)
  hold(txn, outage_pools)
end)

-- A forced request: its own pool only.
core.register_action("cutover_outage_hold_pool", { "http-req" }, function(txn, i)
  local p = outage_forced[tonumber(i) + 1]
  if p then hold(txn, { p }) end
end, 1)
`, strings.Join(routed, ", "), strings.Join(forced, ", "), c.HoldWhenUnavailableMs)
}

// serverCounts are what a server's row says of the requests sent to it.
type serverCounts struct {
	sessions, errors5xx, answers uint64
}

// foldHeld counts each held request once: a backend gives up what it sent
// to its hold server, and takes what its held backend answered. The
// requests held and those an instance then answered go to their own
// entries (carried across restarts like the backends').
func foldHeld(backends map[string]backendCounts, servers map[string]map[string]serverCounts) {
	var held, answered uint64
	for backend, byName := range servers {
		if hold, ok := byName[holdServer]; ok {
			c := backends[backend]
			c = c.minus(backendCounts{requests: hold.sessions, errors5xx: hold.errors5xx})
			backends[backend] = c
			held += hold.sessions
		}
		if from, ok := strings.CutPrefix(backend, "held_"); ok {
			backends[from] = backends[from].plus(backends[backend])
			for _, s := range byName {
				answered += s.answers
			}
		}
	}
	for backend := range backends {
		if strings.HasPrefix(backend, "held_") {
			delete(backends, backend)
		}
	}
	backends[outageHeldEntry] = backendCounts{requests: held}
	backends[outageAnsweredEntry] = backendCounts{requests: answered}
}

// The ledger's entries for the requests held and those then answered (no backend has a ':' in its name).
const (
	outageHeldEntry     = "outage:held"
	outageAnsweredEntry = "outage:answered"
)
