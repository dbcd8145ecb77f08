package main

// The worker of a balancer whose data path is HAProxy (haproxy.go): it runs
// haproxy on the listen socket it inherited from the supervisor, restarts
// it at once if it dies (connections wait in the socket's accept queue
// meanwhile), applies a weight change through HAProxy's runtime API as one
// atomic map commit, reloads it seamlessly for any other change (a new
// process on the same socket, the old one finishing what it holds), and
// serves the admin API itself: the config with the weights read back from
// HAProxy, and the same metrics as the own data path, counted from
// HAProxy's log of each request.

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
	table   *endpointTable
	current atomic.Pointer[router]

	mu       sync.Mutex
	process  *exec.Cmd
	stopping bool
	// names and nextServer are guarded by mu.
	names      serverNames
	nextServer int
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
	return added, removed
}

// addressOf is the endpoint a pool's server stands for.
func (w *haproxyWorker) addressOf(pool, name string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for addr, n := range w.names[pool] {
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
		table:   newEndpointTable(),
	}
	adminLn, err := net.FileListener(os.NewFile(adminFD, "admin"))
	if err != nil {
		log.Printf("inherited admin socket: %v", err)
		return 2
	}
	w.current.Store(newRouter(cfg, w.metrics, w.table))
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
	w.mu.Lock()
	rendered := renderHAProxy(cfg, w.files, 3, w.names)
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
	return nil
}

// serving tells whether the runtime socket is this process's (after a reload, the old one's may answer first).
func (w *haproxyWorker) serving(cmd *exec.Cmd) bool {
	out, err := w.command("show info")
	return err == nil && strings.Contains(out, fmt.Sprintf("\nPid: %d\n", cmd.Process.Pid))
}

// watch restarts haproxy when the process serving dies on its own.
func (w *haproxyWorker) watch(cmd *exec.Cmd, exited chan<- struct{}) {
	err := cmd.Wait()
	close(exited)
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
	for {
		if err := w.start(); err == nil {
			return
		} else {
			log.Printf("haproxy: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
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
	if samePools(cfg, old) && sameButPools(cfg, old) {
		if err := w.changeServers(cfg); err == nil {
			w.current.Store(newRouter(cfg, w.metrics, w.table))
			saveApplied(configPath, cfg)
			log.Printf("reloaded pools through the runtime API")
			return
		} else {
			log.Printf("changing haproxy's pools in place: %v; reloading it", err)
		}
	}
	w.nameServers(cfg)
	if err := w.writeFiles(cfg); err != nil {
		log.Printf("reload rejected: %v", err)
		return
	}
	w.current.Store(newRouter(cfg, w.metrics, w.table))
	if err := w.start(); err != nil {
		log.Printf("reload: %v", err)
		return
	}
	saveApplied(configPath, cfg)
	log.Printf("reloaded haproxy")
}

// sameButPools tells whether two configs differ in their pools alone.
func sameButPools(a, b *Config) bool {
	strip := func(c *Config) []byte {
		copied := *c
		copied.Pools = nil
		raw, _ := json.Marshal(copied)
		return raw
	}
	return bytes.Equal(strip(a), strip(b))
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
		backend := backendName(s.pool) + "/" + s.name
		for _, cmd := range []string{fmt.Sprintf("add server %s %s %s", backend, s.addr, serverOptions(cfg)), "enable health " + backend, "enable server " + backend} {
			if out, err := w.command(cmd); err != nil || (strings.TrimSpace(out) != "" && !strings.Contains(out, "New server registered")) {
				return fmt.Errorf("%s: %v %q", cmd, err, strings.TrimSpace(out))
			}
		}
	}
	if err := w.commitWeights(cfg); err != nil {
		return err
	}
	for _, s := range removed {
		backend := backendName(s.pool) + "/" + s.name
		if _, err := w.command("set server " + backend + " state maint"); err != nil {
			return err
		}
		go w.removeWhenIdle(backend)
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

// commitWeights replaces the weight map in one commit: no request sees half a change.
func (w *haproxyWorker) commitWeights(cfg *Config) error {
	m := w.files.weights()
	out, err := w.command("prepare map " + m)
	if err != nil {
		return err
	}
	version := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "New version created:"))
	if _, err := strconv.Atoi(version); err != nil {
		return fmt.Errorf("prepare map: %q", strings.TrimSpace(out))
	}
	var cmds []string
	for _, l := range strings.Split(strings.TrimSpace(renderWeightMap(cfg)), "\n") {
		cmds = append(cmds, fmt.Sprintf("add map @%s %s %s", version, m, l))
	}
	cmds = append(cmds, fmt.Sprintf("commit map @%s %s", version, m))
	if out, err := w.command(strings.Join(cmds, ";")); err != nil || strings.TrimSpace(out) != "" {
		return fmt.Errorf("commit map: %v %q", err, strings.TrimSpace(out))
	}
	// A haproxy started later (a restart) reads the file.
	return writeFileAtomic(m, []byte(renderWeightMap(cfg)))
}

// readWeights are the weights HAProxy routes by, from its map.
func (w *haproxyWorker) readWeights() (map[string]int, error) {
	out, err := w.command("show map " + w.files.weights())
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
	mux.Handle("GET /metrics", w.metrics.handler(w.current.Load))
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

// readLogs counts each request haproxy logs into its pool's metrics:
// `<backend> <status> <response ms> <retries> <forced>`.
func (w *haproxyWorker) readLogs(logs *os.File) {
	defer logs.Close()
	sc := bufio.NewScanner(logs)
	for sc.Scan() {
		w.count(sc.Text())
	}
}

func (w *haproxyWorker) count(line string) {
	f := strings.Fields(line)
	if len(f) != 5 || !strings.HasPrefix(f[0], "pool_") {
		return
	}
	p := w.current.Load().byName[strings.TrimPrefix(f[0], "pool_")]
	if p == nil {
		return
	}
	status, _ := strconv.Atoi(f[1])
	ms, _ := strconv.Atoi(f[2])
	retries, _ := strconv.Atoi(strings.TrimPrefix(f[3], "+"))
	c := p.metrics.of(f[4] == "1")
	if retries > 0 {
		c.retries.Add(uint64(retries))
	}
	if ms < 0 {
		// No endpoint answered.
		c.failures.Add(1)
		ms = 0
	}
	c.observe(status, time.Duration(ms)*time.Millisecond)
}

// pollServers keeps each endpoint's state as HAProxy's checks see it.
func (w *haproxyWorker) pollServers(ctx context.Context) {
	for {
		interval, _ := w.current.Load().cfg.HealthCheck.durations()
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		out, err := w.command("show stat -1 4 -1 typed")
		if err != nil {
			continue
		}
		w.applyServerStates(out)
	}
}

// applyServerStates reads `show stat typed` lines (`S.<iid>.<sid>.<field>.<name>:<tags>:<type>:<value>`).
func (w *haproxyWorker) applyServerStates(out string) {
	r := w.current.Load()
	type server struct{ backend, name, status string }
	servers := map[string]*server{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 4)
		if len(parts) != 4 || !strings.HasPrefix(parts[0], "S.") {
			continue
		}
		key := parts[0][:strings.LastIndexByte(parts[0], '.')]
		id := key[:strings.LastIndexByte(key, '.')]
		s := servers[id]
		if s == nil {
			s = &server{}
			servers[id] = s
		}
		switch parts[0][strings.LastIndexByte(parts[0], '.')+1:] {
		case "pxname":
			s.backend = parts[3]
		case "svname":
			s.name = parts[3]
		case "status":
			s.status = parts[3]
		}
	}
	for _, s := range servers {
		pool := strings.TrimPrefix(s.backend, "pool_")
		p := r.byName[pool]
		addr, ok := w.addressOf(pool, s.name)
		if p == nil || !ok {
			continue
		}
		for i, endpoint := range p.endpoints {
			if endpoint == addr {
				p.states[i].checkedDown.Store(!strings.HasPrefix(s.status, "UP"))
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
