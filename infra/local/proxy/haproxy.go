package main

// HAProxy as the data path, behind the same config and admin API as the
// proxy's own: the config is rendered into an HAProxy configuration that
// routes by the same rules (a keyed force header, then a sticky key hashed
// onto the weight ranges, then a weighted draw; a pool with no server up
// passes its requests on to the others), with the weights in a map that
// the runtime API changes in place, so a weight change needs no reload.
// The worker that runs it is in haproxy_worker.go.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// dataPlaneHAProxy is the config's `dataPlane` that puts HAProxy on the data path.
const dataPlaneHAProxy = "haproxy"

// haproxyNames are safe to write into HAProxy's configuration unquoted:
// pool names, header and cookie names.
var haproxyNames = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// haproxyFiles are where a worker keeps HAProxy's files: beside the config.
// The runtime socket is named relative to it (the worker and haproxy both
// run in it), so a long directory never meets the 108 bytes a socket's path may have.
type haproxyFiles struct{ dir string }

func (f haproxyFiles) config() string  { return filepath.Join(f.dir, "haproxy.cfg") }
func (f haproxyFiles) weights() string { return filepath.Join(f.dir, "haproxy-weights.map") }

// certificate is the PEM (certificate and key) haproxy terminates TLS with.
func (f haproxyFiles) certificate() string { return filepath.Join(f.dir, "haproxy-cert.pem") }

// ranges is the map requests are routed by: a range of draws (of routeScale) to a pool.
func (f haproxyFiles) ranges() string { return filepath.Join(f.dir, "haproxy-ranges.map") }

// silence is the range of draws (of logSampleScale) whose request's line is left out of the log.
func (f haproxyFiles) silence() string { return filepath.Join(f.dir, "haproxy-silence.acl") }

func (f haproxyFiles) runtime() string { return "haproxy.sock" }

// haproxyRef is how haproxy names one of the files beside its configuration:
// relative to its working directory, the balancer's, so that no character of
// the directory's path (a space, a comma) reaches a rule or a command.
func haproxyRef(path string) string { return filepath.Base(path) }

// validateForHAProxy refuses names that could not be written into its configuration safely.
func (c *Config) validateForHAProxy() error {
	for name := range c.Pools {
		if !haproxyNames.MatchString(name) {
			return fmt.Errorf("dataPlane haproxy: pool name %q: letters, digits, '.', '_' and '-' only", name)
		}
	}
	for _, h := range []string{c.StickyHeader, c.StickyCookie, c.ForceHeader} {
		if h != "" && !haproxyNames.MatchString(h) {
			return fmt.Errorf("dataPlane haproxy: header or cookie name %q: letters, digits, '.', '_' and '-' only", h)
		}
	}
	if c.HealthCheck.Path != "" && strings.ContainsAny(c.HealthCheck.Path, " \t\r\n\"'\\#") {
		return fmt.Errorf("dataPlane haproxy: healthCheck.path may not hold spaces, quotes, '\\' or '#'")
	}
	return nil
}

// routeScale is the range a request's draw (or its sticky key's hash) falls in.
const routeScale = 1000000

// renderRanges is the map requests are routed by: each pool with weight its
// share of [0, routeScale) as a range, in the pools' order, so a sticky
// key's draw stays in a pool whose share grows.
func renderRanges(c *Config) string {
	total := 0
	for _, p := range c.Pools {
		total += p.Weight
	}
	var b strings.Builder
	acc := 0
	for _, name := range c.poolNames() {
		w := c.Pools[name].Weight
		if w <= 0 || total <= 0 {
			continue
		}
		lo, hi := acc*routeScale/total, (acc+w)*routeScale/total-1
		acc += w
		if hi >= lo {
			fmt.Fprintf(&b, "%d:%d %s\n", lo, hi, name)
		}
	}
	return b.String()
}

// renderWeightMap is each pool's weight (read back for the journal, and the
// pools a request passes to when its own has no server up) and its count
// of instances (a pool without any is forced to by no request).
func renderWeightMap(c *Config) string {
	var b strings.Builder
	for _, name := range c.poolNames() {
		fmt.Fprintf(&b, "weight:%s %d\n", name, c.Pools[name].Weight)
		fmt.Fprintf(&b, "endpoints:%s %d\n", name, len(c.Pools[name].Endpoints))
	}
	return b.String()
}

// backendName is the backend of a pool's routed requests; forcedBackendName
// of its forced ones, the same servers, so their counters are apart.
func backendName(pool string) string { return "pool_" + pool }

func forcedBackendName(pool string) string { return "forced_" + pool }

// poolBackends are the backends that hold a pool's servers.
func poolBackends(c *Config, pool string) []string {
	backends := []string{backendName(pool)}
	if c.forcing() {
		backends = append(backends, forcedBackendName(pool))
	}
	if !c.holding() {
		return backends
	}
	held := make([]string, 0, len(backends))
	for _, b := range backends {
		held = append(held, heldBackendName(b))
	}
	return append(backends, held...)
}

// serverNames name each pool's endpoints for HAProxy: pool, then address, to name.
// A name is never given to another address, so a server being drained
// and removed is never confused with one just added.
type serverNames map[string]map[string]string

// serverOptions are each server's checks and passive ejection (after
// consecutive connection errors), written alike into the configuration
// and into a server added at runtime.
func serverOptions(c *Config) string {
	interval, _ := c.HealthCheck.durations()
	eject := ejectAfterFailures
	if c.holding() {
		// A request every instance refuses marks each down in turn, to reach the hold (haproxy_outage.go).
		eject = 1
	}
	return fmt.Sprintf("check inter %dms fall 2 rise 2 observe layer4 error-limit %d on-error mark-down", interval.Milliseconds(), eject)
}

// haproxySockets are the inherited sockets haproxy serves on: the listen
// socket, and with TLS's redirect the plain HTTP one (0: none) with the port HTTPS is on.
type haproxySockets struct {
	listenFD, redirectFD int
	httpsPort            string
}

// renderHAProxy writes the configuration for one HAProxy process serving on the inherited sockets.
func renderHAProxy(c *Config, files haproxyFiles, sockets haproxySockets, servers serverNames) string {
	_, timeout := c.HealthCheck.durations()
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("global")
	line("  stats socket unix@%s mode 600 level admin", files.runtime())
	line("  hard-stop-after 30s")
	line("  lua-load \"%s\"", files.lua())
	// The request line a log line may carry: the access log keeps accessPathMax bytes of the path (1024 by default, cutting it shorter).
	line("  tune.http.logurilen %d", accessPathMax+64)
	line("defaults")
	line("  mode http")
	line("  option http-keep-alive")
	line("  option forwardfor")
	line("  timeout connect 2s")
	line("  timeout client 120s")
	// How long an instance may stay silent (HAProxy's server timeout is the time between reads and writes).
	line("  timeout server %dms", c.upstreamTimeout().Milliseconds())
	line("  timeout http-request 30s")
	line("  timeout tunnel 1h")
	line("  timeout check %dms", timeout.Milliseconds())
	line("frontend balancer")
	proto := "http"
	if c.TLS != nil {
		proto = "https"
		line("  bind fd@%d ssl crt \"%s\" alpn http/1.1 ssl-min-ver TLSv1.2", sockets.listenFD, files.certificate())
		if c.TLS.HSTSMaxAgeSeconds > 0 {
			// Every answer carries it: the pools', and haproxy's own.
			line("  http-after-response set-header Strict-Transport-Security max-age=%d", c.TLS.HSTSMaxAgeSeconds)
		}
	} else {
		line("  bind fd@%d", sockets.listenFD)
	}
	// The counts come from the backends' counters; a sample of the requests' latencies from a
	// line each on haproxy's stdout, a pipe only the worker reads (a line is dropped, never
	// waited for, should the worker fall a pipe's length behind). The worker sizes the sample;
	// a request maintenance answered or held is always logged, to be counted.
	// A line is long enough for the longest path the access log keeps (1024 bytes by default, cutting the line and the request ID at its end).
	line("  log stdout len %d format raw local0", accessPathMax+1024)
	if c.AccessLog {
		line(`  log-format "%s"`, strings.Join(accessLogFields, " "))
	} else {
		line(`  log-format "%%b %%Tr %%[var(txn.maint)]"`)
	}
	// The client's own request ID when it sent exactly one that is safe to carry and log, a new one otherwise (request_id.go).
	line("  http-request set-header %s %%[uuid()] unless { req.fhdr_cnt(%s) eq 1 } { req.fhdr(%s) -m reg %s }", requestIDHeader, requestIDHeader, requestIDHeader, requestIDPattern)
	line("  http-request set-var(txn.request_id) req.fhdr(%s)", requestIDHeader)
	line("  http-after-response set-header %s %%[var(txn.request_id)] if { var(txn.request_id) -m found } !{ res.hdr_cnt(%s) gt 0 }", requestIDHeader, requestIDHeader)
	line("  http-request set-header X-Forwarded-Proto %s", proto)
	line("  http-request set-header X-Forwarded-Host %%[req.hdr(host)] if { req.hdr(host) -m found }")
	names := c.poolNames()
	if c.forcing() {
		line("  http-request set-var(txn.forced) int(0)")
		// The key is compared as a SHA-256 digest: the configuration holds no key, and the comparison says nothing of it.
		digest := sha256.Sum256([]byte(c.ForceKey))
		line("  acl force_key req.hdr(%s),regsub(^[^:]*:,),sha2(256),hex -m str %s", c.ForceHeader, strings.ToUpper(hex.EncodeToString(digest[:])))
		line("  http-request set-var(txn.force_pool) req.hdr(%s),field(1,:) if force_key", c.ForceHeader)
		// The header carries the key: the instance never sees it, keyed or not.
		line("  http-request del-header %s", c.ForceHeader)
		// A pool with instances takes its forced requests, up by their checks or not: with the hold on
		// they wait for one to come back, without it they fail, as they would on the own data path.
		for _, name := range names {
			line("  http-request set-var(txn.forced) int(1) if { var(txn.force_pool) -m str %s } { str(endpoints:%s),map_str_int(%s,0) gt 0 }", name, name, haproxyRef(files.weights()))
		}
	}
	// Maintenance (haproxy_maintenance.go), before the pool is drawn: a request held is routed by the weights in force when it is let go.
	line("  http-request set-var(txn.maint) str(mode),map_str(%s,off)", haproxyRef(files.state()))
	if c.forcing() {
		line("  http-request set-var(txn.maint) str(off) if { var(txn.forced) -m int eq 1 }")
	}
	line("  http-request lua.cutover_hold if { var(txn.maint) -m str hold }")
	if !c.AccessLog {
		line("  http-request set-log-level silent if { var(txn.maint) -m str off } { rand(%d) -m int -f %s }", logSampleScale, haproxyRef(files.silence()))
	}
	line("  http-request use-service lua.cutover_page if { var(txn.maint) -m str page held-page }")
	renderDraw(line, c, files)
	if c.forcing() {
		for _, name := range names {
			line("  use_backend %s if { var(txn.forced) -m int eq 1 } { var(txn.force_pool) -m str %s }", forcedBackendName(name), name)
		}
	}
	// Whether a pool has a server up: its backend's count, or with the hold on (where the backend's
	// backup counts as one when nothing else is up) the count of its held requests' backend.
	upIn := backendName
	if c.holding() {
		upIn = func(name string) string { return heldBackendName(backendName(name)) }
	}
	renderPoolChoice(line, names, files, backendName, func(name string) string { return fmt.Sprintf("{ nbsrv(%s) gt 0 }", upIn(name)) })
	// Nothing up anywhere (or a process finishing its last requests after a reload): the pool the request drew.
	for _, name := range names {
		line("  use_backend %s if { var(txn.pool) -m str %s }", backendName(name), name)
	}
	line("  default_backend nothing_up")
	for _, name := range names {
		for _, backend := range poolBackends(c, name) {
			renderPoolBackend(&b, c, backend, c.Pools[name].Endpoints, servers[name])
		}
	}
	if c.TLS != nil && sockets.redirectFD > 0 {
		renderRedirect(&b, sockets)
	}
	if c.holding() {
		renderHoldFrontend(&b, c, files)
	}
	// No weight anywhere: a 503, as the own data path answers.
	line("backend nothing_up")
	line("  http-request return status 503 content-type text/plain string \"no upstream available\\n\"")
	return b.String()
}

// renderDraw writes the rules that set the request's pool: the range its draw falls in, or its sticky key's hash.
func renderDraw(line func(string, ...any), c *Config, files haproxyFiles) {
	r := haproxyRef(files.ranges())
	line("  http-request set-var(txn.pool) rand(%d),map_int(%s,none)", routeScale, r)
	if c.StickyCookie != "" {
		line("  http-request set-var(txn.pool) req.cook(%s),xxh32,mod(%d),map_int(%s,none) if { req.cook(%s) -m found }", c.StickyCookie, routeScale, r, c.StickyCookie)
	}
	if c.StickyHeader != "" {
		line("  http-request set-var(txn.pool) req.hdr(%s),xxh32,mod(%d),map_int(%s,none) if { req.hdr(%s) -m found }", c.StickyHeader, routeScale, r, c.StickyHeader)
	}
}

// renderPoolChoice writes the rules that send a request to a pool's backend
// (backend names it): the drawn pool when it is up (up is its condition),
// else the pools with weight that are, then any that is.
func renderPoolChoice(line func(string, ...any), names []string, files haproxyFiles, backend, up func(string) string) {
	for _, name := range names {
		line("  use_backend %s if { var(txn.pool) -m str %s } %s", backend(name), name, up(name))
	}
	m := haproxyRef(files.weights())
	for _, name := range names {
		line("  use_backend %s if { str(weight:%s),map_str_int(%s,0) gt 0 } %s", backend(name), name, m, up(name))
	}
	for _, name := range names {
		line("  use_backend %s if %s", backend(name), up(name))
	}
}

// renderRedirect writes the plain HTTP frontend that sends every request to
// HTTPS: the same host (a valid one, its port dropped) and path, on the HTTPS port.
func renderRedirect(b *strings.Builder, sockets haproxySockets) {
	line := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	port := ":" + sockets.httpsPort
	if sockets.httpsPort == "443" {
		port = ""
	}
	line("frontend redirect")
	line("  bind fd@%d", sockets.redirectFD)
	line(`  http-request return status 400 content-type text/plain string "a valid Host header is needed\n" unless { req.hdr(host) -m reg '^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]+)?$' }`)
	line("  http-request redirect code 308 location https://%%[req.hdr(host),regsub(:[0-9]+$,)]%s%%[capture.req.uri]", port)
}

// renderPoolBackend writes one backend of a pool's servers.
func renderPoolBackend(b *strings.Builder, c *Config, backend string, endpoints []string, names map[string]string) {
	line := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	line("backend %s", backend)
	line("  balance roundrobin")
	hold := holdServerOf(c, backend)
	if c.holding() {
		line("  retries %d", holdRetries)
		// HAProxy waits min(timeout connect, 1s) before each retry; the instances are on this host, where a connection is taken at once or refused.
		line("  timeout connect %dms", holdConnectTimeoutMs)
		if hold != "" {
			// The backup server is the hold: a request it holds is silent for the hold, then has its instance's time
			// (HAProxy's timeout is the backend's, its instances' too). A held request's own backend allows the instance its time alone.
			line("  timeout server %dms", c.upstreamTimeout().Milliseconds()+int64(c.HoldWhenUnavailableMs))
		}
	} else {
		line("  retries 2")
	}
	line("  option redispatch 1")
	// Tried again on another instance: a refused connection always; a safe request without a
	// body also when the connection breaks before the answer (a POST the instance may have acted on never is).
	// Never after the upstream timeout: the instance may still be working on it.
	line("  retry-on conn-failure empty-response")
	line("  http-request disable-l7-retry if !METH_GET !METH_OPTIONS || { req.body_size gt 0 }")
	if c.HealthCheck.Path != "" {
		line("  option httpchk GET %s", c.HealthCheck.Path)
		line("  http-check expect status 200-399")
	}
	for _, addr := range endpoints {
		line("  server %s %s %s", names[addr], addr, serverOptions(c))
	}
	if hold != "" {
		// The last resort of a request no instance took: the frontend where it waits (haproxy_outage.go).
		line("  server %s unix@%s backup", holdServer, hold)
	}
}

// holdServerOf is the socket of the frontend a backend's requests wait in when no instance takes them: none but with the hold on, for a pool's routed and forced backends.
func holdServerOf(c *Config, backend string) string {
	if !c.holding() {
		return ""
	}
	if strings.HasPrefix(backend, "pool_") {
		return haproxyFiles{}.holdSocket()
	}
	if pool, ok := strings.CutPrefix(backend, "forced_"); ok {
		return haproxyFiles{}.forcedHoldSocket(slices.Index(c.poolNames(), pool))
	}
	return ""
}
