package main

// Maintenance on the HAProxy data path, switched without a reload: the
// mode (off, page, hold), the page and the hold's timeout are entries of a
// map the worker changes through the runtime API, read per request by
// haproxy's rules and by a small Lua script the worker writes beside the
// configuration. "page" answers with the page (its status, Retry-After and
// body from a page file named by its digest); "hold" keeps each request
// until the mode changes (then routes it) or the timeout passes (then the
// page). A request with the keyed force header still reaches its pool.
// What maintenance did (page, held-page, released) is the request's
// `txn.maint`, counted from its log line, which is never left out of the sample.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// state is the map of maintenance's mode, page file and hold timeout.
func (f haproxyFiles) state() string { return filepath.Join(f.dir, "haproxy-state.map") }

// lua is the script that holds requests and serves the page.
func (f haproxyFiles) lua() string { return filepath.Join(f.dir, "haproxy-maintenance.lua") }

// pageFile names a maintenance page by its contents: a new page never overwrites one a request may be reading.
func (f haproxyFiles) pageFile(content []byte) string {
	digest := sha256.Sum256(content)
	return filepath.Join(f.dir, "maintenance-"+hex.EncodeToString(digest[:8])+".page")
}

// pageContent is a page file: its status, Retry-After (0: none) and content type on a line each, a blank line, the body.
func pageContent(m *Maintenance) []byte {
	status := m.Status
	if status == 0 {
		status = 503
	}
	body, contentType := m.Body, m.ContentType
	if body == "" {
		body, contentType = defaultPage, "text/html; charset=utf-8"
	} else if contentType == "" {
		contentType = "text/html; charset=utf-8"
	}
	return []byte(fmt.Sprintf("%d\n%d\n%s\n\n%s", status, m.RetryAfterSeconds, strings.NewReplacer("\r", "", "\n", "").Replace(contentType), body))
}

// maintenanceState is the state map's entries for a config: its page file,
// hold timeout and mode. Every entry is always there (the runtime API sets
// entries, it adds none); with maintenance off, only the mode changes.
func (f haproxyFiles) maintenanceState(m *Maintenance) [][2]string {
	if m == nil {
		return [][2]string{{"mode", "off"}}
	}
	return [][2]string{
		{"page", filepath.Base(f.pageFile(pageContent(m)))},
		{"hold_ms", strconv.Itoa(int(m.holdTimeout().Milliseconds()))},
		{"mode", m.Mode},
	}
}

// writeMaintenance writes the page a config's maintenance serves and the state map for a haproxy started later.
func (w *haproxyWorker) writeMaintenance(m *Maintenance) error {
	if m != nil {
		content := pageContent(m)
		if err := writeFileAtomic(w.files.pageFile(content), content); err != nil {
			return err
		}
	}
	var b strings.Builder
	entries := w.files.maintenanceState(m)
	if m == nil {
		entries = append([][2]string{{"page", "none"}, {"hold_ms", "0"}}, entries...)
	}
	entries = append(entries, [2]string{"holding", "0"})
	for _, kv := range entries {
		fmt.Fprintf(&b, "%s %s\n", kv[0], kv[1])
	}
	return writeFileAtomic(w.files.state(), []byte(b.String()))
}

// switchMaintenance puts a config's maintenance in force in the running
// haproxy: the page and timeout first, the mode last, in one exchange.
func (w *haproxyWorker) switchMaintenance(m *Maintenance) error {
	if err := w.writeMaintenance(m); err != nil {
		return err
	}
	var cmds []string
	for _, kv := range w.files.maintenanceState(m) {
		cmds = append(cmds, fmt.Sprintf("set map %s %s %s", haproxyRef(w.files.state()), kv[0], kv[1]))
	}
	if out, err := w.command(strings.Join(cmds, ";")); err != nil || strings.TrimSpace(out) != "" {
		return fmt.Errorf("maintenance: %v %q", err, strings.TrimSpace(out))
	}
	if m != nil {
		w.forgetPagesBut(w.files.pageFile(pageContent(m)))
	}
	return nil
}

// forgetPagesBut removes the page files but the one in force.
func (w *haproxyWorker) forgetPagesBut(keep string) {
	pages, _ := filepath.Glob(filepath.Join(w.files.dir, "maintenance-*.page"))
	for _, p := range pages {
		if p != keep {
			_ = os.Remove(p)
		}
	}
}

// renderMaintenanceLua is the script: a hold action and the page service.
func renderMaintenanceLua(files haproxyFiles) string {
	return fmt.Sprintf(`-- Maintenance on this balancer, written by cutover-proxy's worker: do not edit.
local state = Map.new(%[1]s, Map._str)
local dir = %[2]s
local pages = {}
-- Requests held now, published in the map for the worker's metrics.
local holding = 0
local max_held = %[3]d

local function now_ms()
  local t = core.now()
  return t.sec * 1000 + t.usec // 1000
end

-- A page file: status, Retry-After and content type on a line each, a blank line, the body.
local function page(name)
  if pages[name] then return pages[name] end
  if not name:match("^maintenance%%-%%x+%%.page$") then return nil end
  local f = io.open(dir .. "/" .. name, "rb")
  if not f then return nil end
  local content = f:read("a")
  f:close()
  if not content then return nil end
  local status, retry, ctype, body = content:match("^(%%d+)\n(%%d+)\n([^\n]*)\n\n(.*)$")
  if not status then return nil end
  pages = { [name] = { status = tonumber(status), retry = tonumber(retry), ctype = ctype, body = body } }
  return pages[name]
end

-- Holds a request while the mode is hold, up to the hold's timeout: it is then routed, or given the page.
core.register_action("cutover_hold", { "http-req" }, function(txn)
  if holding >= max_held then
    txn:set_var("txn.maint", "page")
    return
  end
  holding = holding + 1
  core.set_map(%[1]s, "holding", tostring(holding))
  local deadline = now_ms() + (tonumber(state:lookup("hold_ms")) or 30000)
  local mode = state:lookup("mode")
  while mode == "hold" and now_ms() < deadline do
    core.msleep(20)
    mode = state:lookup("mode")
  end
  holding = holding - 1
  core.set_map(%[1]s, "holding", tostring(holding))
  if mode == "hold" or mode == "page" then
    txn:set_var("txn.maint", "held-page")
  else
    txn:set_var("txn.maint", "released")
  end
end)

core.register_service("cutover_page", "http", function(applet)
  local p = page(state:lookup("page") or "") or { status = 503, retry = 0, ctype = "text/plain", body = "down for maintenance\n" }
  applet:set_status(p.status)
  applet:add_header("content-type", p.ctype)
  applet:add_header("cache-control", "no-store")
  if p.retry > 0 then applet:add_header("retry-after", tostring(p.retry)) end
  applet:add_header("content-length", tostring(#p.body))
  applet:start_response()
  applet:send(p.body)
end)
`, luaString(haproxyRef(files.state())), luaString(files.dir), maxHeld)
}

// luaString quotes s for Lua: every byte outside printable ASCII, and the quote and backslash, escaped.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			fmt.Fprintf(&b, "\\%03d", c)
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}
