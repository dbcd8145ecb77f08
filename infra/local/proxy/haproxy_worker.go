package main

// The worker of a balancer whose data path is HAProxy (haproxy.go): it runs
// haproxy on the listen socket it inherited from the supervisor, restarts
// it at once if it dies (connections wait in the socket's accept queue
// meanwhile), applies a weight change through HAProxy's runtime API as one
// atomic map commit, reloads it seamlessly for any other change (a new
// process on the same socket, the old one finishing what it holds), and
// serves the admin API itself: the config with the weights read back from
// HAProxy, and the same metrics as the own data path, from HAProxy's
// counters and a sample of its requests' log lines (haproxy_stats.go).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// haproxyBinary is the haproxy to run: CUTOVER_HAPROXY_BIN, else haproxy on PATH, else Debian's.
func haproxyBinary() string {
	if bin := os.Getenv("CUTOVER_HAPROXY_BIN"); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("haproxy"); err == nil {
		return bin
	}
	return "/usr/sbin/haproxy"
}

type haproxyWorker struct {
	files   haproxyFiles
	listen  *os.File
	metrics *metricsRegistry
	ledger  *counterLedger
	table   *endpointTable
	current atomic.Pointer[router]
	// incoming is the config a change is putting in force (nil between changes): the
	// version of a request its new routing sent is known before the change is done.
	incoming atomic.Pointer[Config]
	// refreshing serialises readings of haproxy's counters; logBelow is the log's sample set in haproxy (0: not known).
	refreshing sync.Mutex
	logBelow   atomic.Int64
	// redirect is TLS's plain HTTP socket (nil without); httpsPort the listen socket's port.
	redirect  *os.File
	httpsPort string
	// certStamp names the certificate files' versions haproxy serves.
	certStamp atomic.Pointer[string]
	access    accessLogs

	// changing serialises what changes haproxy (a reload, a change through
	// its runtime API, a certificate's renewal) with its restart after a
	// death: a haproxy started mid-change would read files half the change
	// has written, and route by them while /config reads back the rest.
	changing sync.Mutex

	mu       sync.Mutex
	process  *exec.Cmd
	stopping bool
	// names and nextServer are guarded by mu.
	names      serverNames
	nextServer int
	// named is names as last set, read without mu (log lines and counts are read while a start holds it).
	named atomic.Pointer[serverNames]
}

// serve puts r's routing in force, its new versions' series starting from haproxy's counts now.
func (w *haproxyWorker) serve(r *router) {
	w.ledger.begin(r.cfg)
	w.current.Store(r)
}

// pooledServer is one server of a pool's backend.
type pooledServer struct{ pool, name, addr string }

// nameServers names the endpoints of cfg, keeping the names they have;
// it returns the servers to add and those no longer wanted.
func (w *haproxyWorker) nameServers(cfg *Config) (added, removed []pooledServer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.names == nil {
		w.names = serverNames{}
	}
	next := serverNames{}
	for _, pool := range cfg.poolNames() {
		next[pool] = map[string]string{}
		for _, addr := range cfg.Pools[pool].Endpoints {
			name, ok := w.names[pool][addr]
			if !ok {
				name = fmt.Sprintf("e%d", w.nextServer)
				w.nextServer++
				added = append(added, pooledServer{pool, name, addr})
			}
			next[pool][addr] = name
		}
	}
	for pool, byAddr := range w.names {
		for addr, name := range byAddr {
			if _, kept := next[pool][addr]; !kept {
				removed = append(removed, pooledServer{pool, name, addr})
			}
		}
	}
	w.names = next
	w.named.Store(&next)
	return added, removed
}

// addressOf is the endpoint a pool's server stands for.
func (w *haproxyWorker) addressOf(pool, name string) (string, bool) {
	names := w.named.Load()
	if names == nil {
		return "", false
	}
	for addr, n := range (*names)[pool] {
		if n == name {
			return addr, true
		}
	}
	return "", false
}

func runHAProxyWorker(configPath string, cfg *Config, signals <-chan os.Signal) int {
	configPath, err := filepath.Abs(configPath)
	if err != nil {
		log.Printf("config: %v", err)
		return 2
	}
	// The worker and haproxy run in the balancer's directory: their sockets are named from there.
	if err := os.Chdir(filepath.Dir(configPath)); err != nil {
		log.Printf("balancer directory: %v", err)
		return 2
	}
	w := &haproxyWorker{
		files:   haproxyFiles{dir: filepath.Dir(configPath)},
		listen:  os.NewFile(listenFD, "listen"),
		metrics: newMetricsRegistry(),
		ledger:  newCounterLedger(),
		table:   newEndpointTable(),
	}
	w.access.in(w.files.dir)
	defer w.access.close()
	adminLn, err := net.FileListener(os.NewFile(adminFD, "admin"))
	if err != nil {
		log.Printf("inherited admin socket: %v", err)
		return 2
	}
	if cfg.redirectListen() != "" {
		w.redirect = os.NewFile(redirectFD, "redirect")
	}
	if ln, err := net.FileListener(w.listen); err == nil {
		_, w.httpsPort, _ = net.SplitHostPort(ln.Addr().String())
		ln.Close()
	}
	w.serve(newRouter(cfg, w.metrics, w.table))
	w.nameServers(cfg)
	if err := w.writeFiles(cfg); err != nil {
		log.Printf("haproxy's files: %v", err)
		return 2
	}
	// A haproxy a dead worker left (its death signal lost) would go on serving the socket with
	// routing no one changes any more: told to finish what it holds and stop.
	for _, pid := range haproxyIn(w.files.dir) {
		log.Printf("a haproxy left by an earlier worker (%d): stopping it", pid)
		_ = syscall.Kill(pid, syscall.SIGUSR1)
	}
	if err := w.start(); err != nil {
		log.Printf("haproxy: %v", err)
		return 1
	}
	saveApplied(configPath, cfg)
	ctx, stopPolling := context.WithCancel(context.Background())
	defer stopPolling()
	go w.pollServers(ctx)
	admin := &http.Server{Handler: w.adminMux(), ReadHeaderTimeout: 10 * time.Second}
	go func() { log.Println(admin.Serve(adminLn)) }()
	log.Printf("worker %d running haproxy on %s, admin on %s", os.Getpid(), cfg.Listen, adminLn.Addr())

	for sig := range signals {
		if sig == syscall.SIGHUP {
			w.reload(configPath)
			continue
		}
		log.Printf("%s: draining", sig)
		w.stop(10 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = admin.Shutdown(ctx)
		cancel()
		return 0
	}
	return 0
}

func (w *haproxyWorker) writeFiles(cfg *Config) error {
	if err := writeFileAtomic(w.files.weights(), []byte(renderWeightMap(cfg))); err != nil {
		return err
	}
	if cfg.TLS != nil {
		if err := w.writeCertificate(cfg.TLS); err != nil {
			return err
		}
	}
	if err := w.writeMaintenance(cfg.Maintenance); err != nil {
		return err
	}
	if err := writeFileAtomic(w.files.lua(), []byte(renderMaintenanceLua(w.files)+renderOutageLua(cfg))); err != nil {
		return err
	}
	if err := writeFileAtomic(w.files.ranges(), []byte(renderRanges(cfg))); err != nil {
		return err
	}
	if _, err := os.Stat(w.files.silence()); os.IsNotExist(err) {
		if err := writeFileAtomic(w.files.silence(), nil); err != nil {
			return err
		}
	}
	w.mu.Lock()
	sockets := haproxySockets{listenFD: 3, httpsPort: w.httpsPort}
	if w.redirect != nil {
		sockets.redirectFD = 4
	}
	rendered := renderHAProxy(cfg, w.files, sockets, w.names)
	w.mu.Unlock()
	return writeFileAtomic(w.files.config(), []byte(rendered))
}

// start runs a new haproxy on the listen socket; one already running is
// told to finish what it holds and stop (-sf) once the new one serves.
func (w *haproxyWorker) start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	args := []string{"-f", w.files.config(), "-db"}
	old := w.process
	if old != nil {
		args = append(args, "-sf", strconv.Itoa(old.Process.Pid))
	}
	cmd := exec.Command(haproxyBinary(), args...)
	cmd.Dir = w.files.dir
	cmd.ExtraFiles = []*os.File{w.listen}
	if w.redirect != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, w.redirect)
	}
	logs, logWriter, err := os.Pipe()
	if err != nil {
		return err
	}
	// A pipe of 1 MiB (Linux's default most): ~15,000 requests' lines of slack.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, logs.Fd(), syscall.F_SETPIPE_SZ, 1<<20)
	cmd.Stdout, cmd.Stderr = logWriter, os.Stderr
	// It goes when the worker goes: the supervisor's next worker starts its own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logWriter.Close()
	if err != nil {
		logs.Close()
		return err
	}
	// Read to its end: the lines of a process told to stop (-sf) are counted until it is gone.
	go w.readLogs(logs)
	exited := make(chan struct{})
	w.process = cmd
	go w.watch(cmd, exited)
	deadline := time.Now().Add(5 * time.Second)
	for !w.serving(cmd) {
		select {
		case <-exited:
		case <-time.After(10 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
		}
		// Not serving: the one before it (if any) goes on serving, and nothing restarts this one.
		w.process = old
		_ = cmd.Process.Kill()
		return fmt.Errorf("haproxy did not start (see the log above)")
	}
	// The new process's sample is the file's: set again at the next reading.
	w.logBelow.Store(0)
	return nil
}

// serving tells whether the runtime socket is this process's (after a reload, the old one's may answer first).
func (w *haproxyWorker) serving(cmd *exec.Cmd) bool {
	out, err := w.command("show info")
	return err == nil && strings.Contains(out, fmt.Sprintf("\nPid: %d\n", cmd.Process.Pid))
}

// watch restarts haproxy when the process serving dies on its own, once
// no change is under way, from the files of the routing in force.
func (w *haproxyWorker) watch(cmd *exec.Cmd, exited chan<- struct{}) {
	err := cmd.Wait()
	close(exited)
	w.changing.Lock()
	defer w.changing.Unlock()
	w.mu.Lock()
	again := w.process == cmd && !w.stopping
	if again {
		w.process = nil
	}
	w.mu.Unlock()
	if !again {
		return
	}
	log.Printf("haproxy %d ended (%v): starting it again", cmd.Process.Pid, err)
	for pause := 200 * time.Millisecond; ; pause = min(2*pause, 5*time.Second) {
		err := w.writeFiles(w.current.Load().cfg)
		if err == nil {
			if err = w.start(); err == nil {
				return
			}
		}
		log.Printf("haproxy: %v; trying again in %s", err, pause)
		// Changes go on meanwhile (one may start haproxy), and so does a stop.
		w.changing.Unlock()
		time.Sleep(pause)
		w.changing.Lock()
		w.mu.Lock()
		done := w.process != nil || w.stopping
		w.mu.Unlock()
		if done {
			return
		}
	}
}

// stop lets haproxy finish the requests it holds (SIGUSR1, a soft stop), up to grace.
func (w *haproxyWorker) stop(grace time.Duration) {
	w.mu.Lock()
	w.stopping = true
	cmd := w.process
	w.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for cmd.ProcessState == nil {
			if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
	}
}

// command sends one command to HAProxy's runtime API and returns its answer.
func (w *haproxyWorker) command(cmd string) (string, error) {
	return runtimeCommand(w.files.runtime(), cmd)
}

// runtimeCommand sends one command to the runtime API listening on socket.
func runtimeCommand(socket, cmd string) (string, error) {
	conn, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", err
	}
	out, err := io.ReadAll(conn)
	return string(out), err
}

// reload applies a new config: weights alone through the runtime API, anything else by a seamless reload.
func (w *haproxyWorker) reload(configPath string) {
	w.changing.Lock()
	defer w.changing.Unlock()
	cfg, err := loadConfig(configPath)
	if err != nil {
		log.Printf("reload rejected, keeping current routing: %v", err)
		return
	}
	old := w.current.Load().cfg
	if !sameAddress(cfg.Listen, old.Listen) || !sameAddress(cfg.Admin, old.Admin) || cfg.DataPlane != old.DataPlane {
		log.Printf("reload rejected: listen and admin addresses and the data plane cannot change in place")
		return
	}
	// A request the change routes is counted, and logged, with the version it reached.
	w.incoming.Store(cfg)
	defer w.incoming.Store(nil)
	if samePools(cfg, old) && sameButPoolsAndMaintenance(cfg, old) {
		// The counts up to the change belong to the versions the pools served until now; the new versions' from here.
		_, _ = w.refreshCounts()
		w.ledger.begin(cfg)
		if err := w.changePoolsAndMaintenance(cfg); err == nil {
			w.serve(newRouter(cfg, w.metrics, w.table))
			saveApplied(configPath, cfg)
			log.Printf("reloaded pools through the runtime API")
			return
		} else {
			log.Printf("changing haproxy's pools in place: %v; reloading it", err)
		}
	}
	// Requests the haproxy serving now holds for maintenance wait on its own map, which no one
	// changes once a new haproxy has taken over: they are told the new mode first.
	switched := old.holdsForMaintenance() && !sameMaintenance(old.Maintenance, cfg.Maintenance)
	if switched {
		if err := w.switchMaintenance(cfg.Maintenance); err != nil {
			log.Printf("maintenance, before reloading: %v", err)
		}
	}
	w.mu.Lock()
	names := w.names
	w.mu.Unlock()
	// A reload haproxy refuses leaves the routing in force, with its servers' names and its files
	// (a haproxy started later, should this one die, reads them).
	keep := func() {
		w.mu.Lock()
		w.names = names
		w.named.Store(&names)
		w.mu.Unlock()
		if switched {
			if err := w.switchMaintenance(old.Maintenance); err != nil {
				log.Printf("maintenance: %v", err)
			}
		}
		if err := w.writeFiles(old); err != nil {
			log.Printf("haproxy's files: %v", err)
		}
	}
	w.nameServers(cfg)
	if err := w.writeFiles(cfg); err != nil {
		log.Printf("reload rejected: %v", err)
		keep()
		return
	}
	// The old process's counts, read as it hands over: carried to the new one's.
	_, _ = w.refreshCounts()
	next := newRouter(cfg, w.metrics, w.table)
	w.ledger.begin(cfg)
	if err := w.start(); err != nil {
		log.Printf("reload: %v; the routing before it stays", err)
		keep()
		return
	}
	// Read back (/config) once the new haproxy serves it, not before.
	w.current.Store(next)
	saveApplied(configPath, cfg)
	log.Printf("reloaded haproxy")
}

// changePoolsAndMaintenance applies the pools, then maintenance: held requests let go are routed by the new weights.
func (w *haproxyWorker) changePoolsAndMaintenance(cfg *Config) error {
	if err := w.changeServers(cfg); err != nil {
		return err
	}
	return w.switchMaintenance(cfg.Maintenance)
}

// sameButPoolsAndMaintenance tells whether two configs differ in their pools and maintenance alone.
func sameButPoolsAndMaintenance(a, b *Config) bool {
	strip := func(c *Config) []byte {
		copied := *c
		copied.Pools = nil
		copied.Maintenance = nil
		raw, _ := json.Marshal(copied)
		return raw
	}
	return bytes.Equal(strip(a), strip(b))
}

// holdsForMaintenance tells whether c holds requests for maintenance.
func (c *Config) holdsForMaintenance() bool {
	return c.Maintenance != nil && c.Maintenance.Mode == "hold"
}

// sameMaintenance tells whether two maintenance settings are the same.
func sameMaintenance(a, b *Maintenance) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// samePools tells whether two configs name the same pools.
func samePools(a, b *Config) bool {
	return strings.Join(a.poolNames(), " ") == strings.Join(b.poolNames(), " ")
}

// changeServers moves haproxy to cfg's pools without a reload (a reload
// would close idle client connections as the old process stops): new
// servers added and enabled first, then the weights committed, then the
// servers no longer wanted taken out of rotation and removed once idle.
// The configuration file is rewritten for a haproxy started later.
func (w *haproxyWorker) changeServers(cfg *Config) error {
	added, removed := w.nameServers(cfg)
	for _, s := range added {
		for _, backend := range poolBackends(cfg, s.pool) {
			server := backend + "/" + s.name
			for _, cmd := range []string{fmt.Sprintf("add server %s %s %s", server, s.addr, serverOptions(cfg)), "enable health " + server, "enable server " + server} {
				if out, err := w.command(cmd); err != nil || (strings.TrimSpace(out) != "" && !strings.Contains(out, "New server registered")) {
					return fmt.Errorf("%s: %v %q", cmd, err, strings.TrimSpace(out))
				}
			}
		}
	}
	if err := w.commitWeights(cfg); err != nil {
		return err
	}
	for _, s := range removed {
		for _, backend := range poolBackends(cfg, s.pool) {
			server := backend + "/" + s.name
			if _, err := w.command("set server " + server + " state maint"); err != nil {
				return err
			}
			go w.removeWhenIdle(server)
		}
	}
	return w.writeFiles(cfg)
}

// removeWhenIdle deletes a server out of rotation once its last request
// is answered, or after 30s, its remaining connections then shut.
func (w *haproxyWorker) removeWhenIdle(backend string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := w.command("del server " + backend)
		if err != nil || strings.Contains(out, "Server deleted") || strings.Contains(out, "No such server") || strings.Contains(out, "No such backend") {
			return
		}
		if time.Now().After(deadline) {
			_, _ = w.command("shutdown sessions server " + backend)
			deadline = time.Now().Add(time.Second)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// commitWeights puts new weights in force: the ranges requests are routed
// by, then the weights read back and passed to when a pool is down, each
// replaced in one commit, so no request sees half a change.
func (w *haproxyWorker) commitWeights(cfg *Config) error {
	if err := w.replace("map", w.files.ranges(), renderRanges(cfg)); err != nil {
		return err
	}
	return w.replace("map", w.files.weights(), renderWeightMap(cfg))
}

// replace swaps a map's or an ACL's entries for content's lines in one
// commit, and writes the file a haproxy started later reads.
func (w *haproxyWorker) replace(kind, path, content string) error {
	file := haproxyRef(path)
	out, err := w.command(fmt.Sprintf("prepare %s %s", kind, file))
	if err != nil {
		return err
	}
	version := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "New version created:"))
	if _, err := strconv.Atoi(version); err != nil {
		return fmt.Errorf("prepare %s: %q", kind, strings.TrimSpace(out))
	}
	var cmds []string
	for _, l := range strings.Split(strings.TrimSpace(content), "\n") {
		if l != "" {
			cmds = append(cmds, fmt.Sprintf("add %s @%s %s %s", kind, version, file, l))
		}
	}
	cmds = append(cmds, fmt.Sprintf("commit %s @%s %s", kind, version, file))
	if out, err := w.command(strings.Join(cmds, ";")); err != nil || strings.TrimSpace(out) != "" {
		return fmt.Errorf("commit %s: %v %q", kind, err, strings.TrimSpace(out))
	}
	return writeFileAtomic(path, []byte(content))
}

// readWeights are the weights HAProxy routes by, from its map.
func (w *haproxyWorker) readWeights() (map[string]int, error) {
	out, err := w.command("show map " + haproxyRef(w.files.weights()))
	if err != nil {
		return nil, err
	}
	weights := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && strings.HasPrefix(f[1], "weight:") {
			n, err := strconv.Atoi(f[2])
			if err != nil {
				return nil, fmt.Errorf("show map: %q", l)
			}
			weights[strings.TrimPrefix(f[1], "weight:")] = n
		}
	}
	return weights, nil
}

func (w *haproxyWorker) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Write([]byte("ok\n"))
	})
	metrics := w.metrics.handler(w.current.Load)
	// Read from haproxy as scraped: a scrape sees every request answered before it.
	mux.HandleFunc("GET /metrics", func(rw http.ResponseWriter, r *http.Request) {
		if _, err := w.refreshCounts(); err != nil {
			http.Error(rw, "haproxy's statistics: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		metrics.ServeHTTP(rw, r)
	})
	// The routing as HAProxy holds it: the weights are read back from it, not from what was asked.
	mux.HandleFunc("GET /config", func(rw http.ResponseWriter, _ *http.Request) {
		weights, err := w.readWeights()
		if err != nil {
			http.Error(rw, "haproxy's runtime API: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		shown := *w.current.Load().cfg.withoutKey()
		shown.Pools = map[string]Pool{}
		for name, p := range w.current.Load().cfg.Pools {
			p.Weight = weights[name]
			shown.Pools[name] = p
		}
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(&shown)
	})
	mux.HandleFunc("GET /endpoints", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(reportEndpoints(w.current.Load()))
	})
	return mux
}

// readLogs puts the latencies of the sampled requests haproxy logs into
// their pool's histogram, and counts what maintenance did:
// `<backend> <response ms> <what maintenance did: off, page, held-page, released>`;
// with the access log on every request is logged, with what its line needs
// after that: `<status> <total ms> <client> <server> <method> <path>`.
func (w *haproxyWorker) readLogs(logs *os.File) {
	defer logs.Close()
	sc := bufio.NewScanner(logs)
	for sc.Scan() {
		w.sample(sc.Text())
	}
}

func (w *haproxyWorker) sample(line string) {
	f := strings.Fields(line)
	if len(f) == len(accessLogFields) {
		w.logAccess(f)
	} else if len(f) != 3 {
		return
	}
	backend, value := f[0], f[1]
	counts := &w.metrics.maintenance
	switch f[2] {
	case "page":
		counts.pages.Add(1)
	case "held-page":
		counts.held.Add(1)
		counts.pages.Add(1)
	case "released":
		counts.held.Add(1)
		counts.released.Add(1)
	}
	pool, forced, ok := poolOfBackend(backend)
	if !ok {
		return
	}
	p := w.current.Load().byName[pool]
	ms, err := strconv.Atoi(value)
	if p == nil || err != nil || ms < 0 {
		// Not a pool's, or no endpoint answered (counted among the failures).
		return
	}
	p.metrics.of(forced).observeLatency(time.Duration(ms) * time.Millisecond)
}

// poolOfBackend is the pool a pool's backend serves (backendName, forcedBackendName), and whether its requests were forced.
func poolOfBackend(backend string) (pool string, forced, ok bool) {
	if pool, ok = strings.CutPrefix(backend, "pool_"); ok {
		return pool, false, true
	}
	pool, ok = strings.CutPrefix(backend, "forced_")
	return pool, ok, ok
}

// logAccess writes a request's access log line from its haproxy log line.
func (w *haproxyWorker) logAccess(f []string) {
	status, _ := strconv.Atoi(f[3])
	total, _ := strconv.Atoi(f[4])
	e := accessEntry{
		Time: accessTime(time.Now().Add(-time.Duration(total) * time.Millisecond)), Client: f[5],
		Method: f[7], Path: loggedPath(f[8]), Status: status, DurationMs: float64(total),
	}
	// "-": a request haproxy answered before its rules ran (one it could not parse).
	if f[9] != "-" {
		e.RequestID = f[9]
	}
	if pool, forced, ok := poolOfBackend(f[0]); ok {
		e.Pool, e.Forced = pool, forced
		// A held request was answered through the hold: the instance is not known here.
		e.Instance, _ = w.addressOf(pool, f[6])
		e.Version = w.versionOf(pool, e.Instance)
	}
	w.access.write(&e)
}

// versionOf is the version a pool's instance runs: by the routing in force,
// or by the one a change is putting in force (a request its new weights sent
// is logged before the change is done). Without the instance, the pool's.
func (w *haproxyWorker) versionOf(pool, instance string) string {
	current := w.current.Load().byName[pool]
	incoming, ok := Pool{}, false
	if cfg := w.incoming.Load(); cfg != nil {
		incoming, ok = cfg.Pools[pool]
	}
	switch {
	case current != nil && instance != "" && slices.Contains(current.endpoints, instance):
		return current.version
	case ok && instance != "" && slices.Contains(incoming.Endpoints, instance):
		return incoming.Version
	case current != nil && current.version != "":
		return current.version
	}
	return incoming.Version
}

// loggedPath is the path of haproxy's line (quoted: `""` when the request
// named none, a target in absolute form without a path).
func loggedPath(quoted string) string {
	path := strings.TrimSuffix(strings.TrimPrefix(quoted, `"`), `"`)
	if path == "" {
		return "/"
	}
	return path
}

// pollServers keeps each endpoint's state as HAProxy's checks see it, the
// counts carried should haproxy restart, and the log's sample sized to the load.
func (w *haproxyWorker) pollServers(ctx context.Context) {
	for {
		interval, _ := w.current.Load().cfg.HealthCheck.durations()
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		if rate, err := w.refreshCounts(); err == nil {
			w.setLogSample(rate)
		}
		if t := w.current.Load().cfg.TLS; t != nil {
			w.changing.Lock()
			if err := w.renewCertificate(t); err != nil {
				log.Printf("renewing the certificate: %v", err)
			}
			w.changing.Unlock()
		}
	}
}

// applyServerStates takes each endpoint's state from its server in the pool's backend.
func (w *haproxyWorker) applyServerStates(servers map[string]map[string]string) {
	r := w.current.Load()
	for backend, statuses := range servers {
		pool, ok := strings.CutPrefix(backend, "pool_")
		p := r.byName[pool]
		if !ok || p == nil {
			continue
		}
		for name, status := range statuses {
			addr, ok := w.addressOf(pool, name)
			if !ok {
				continue
			}
			for i, endpoint := range p.endpoints {
				if endpoint == addr {
					p.states[i].checkedDown.Store(!strings.HasPrefix(status, "UP"))
				}
			}
		}
	}
}

// haproxyIn are the haproxy processes running in dir: those of this balancer.
func haproxyIn(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0]) != "haproxy" {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && cwd == dir {
			pids = append(pids, pid)
		}
	}
	return pids
}
