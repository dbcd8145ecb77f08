package main

// The HAProxy data path against a real haproxy (Debian's), started by the
// real supervisor and worker: routing by weight, a weight change applied
// without a reload and read back, sticky keys that stay put as a pool
// grows, the keyed force header, a dead endpoint skipped without a failed
// request, an endpoint change reloaded seamlessly under load, a killed
// haproxy or worker back within a second, and the metrics the analysis
// reads, from haproxy's counters.

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

type haproxyBalancer struct {
	t      *testing.T
	cmd    *exec.Cmd
	config string
	status statusFile
	cfg    *Config
}

func startHAProxyBalancer(t *testing.T, cfg *Config) *haproxyBalancer {
	t.Helper()
	if _, err := os.Stat(haproxyBinary()); err != nil {
		t.Fatalf("haproxy is not installed (%s): set-up installs Debian's package", haproxyBinary())
	}
	cfg.DataPlane = dataPlaneHAProxy
	return startBalancerProcess(t, cfg)
}

// startBalancerProcess runs the real supervisor and worker on cfg, with the data plane it names.
func startBalancerProcess(t *testing.T, cfg *Config) *haproxyBalancer {
	t.Helper()
	return startBalancerProcessIn(t, t.TempDir(), cfg)
}

// startBalancerProcessIn runs the real supervisor and worker on cfg in dir (the balancer's directory).
func startBalancerProcessIn(t *testing.T, dir string, cfg *Config) *haproxyBalancer {
	t.Helper()
	bin := buildProxy(t)
	b := &haproxyBalancer{t: t, config: filepath.Join(dir, "config.json"), cfg: cfg}
	cfg.Listen, cfg.Admin = "127.0.0.1:0", "127.0.0.1:0"
	writeConfig(t, b.config, cfg)
	b.cmd = exec.Command(bin, "-config", b.config, "-status", filepath.Join(dir, "status.json"))
	b.cmd.Stdout, b.cmd.Stderr = os.Stderr, os.Stderr
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL); b.cmd.Wait() })
	b.status = readStatus(t, filepath.Join(dir, "status.json"), func(s statusFile) bool { return s.WorkerPid != 0 })
	if cfg.TLS != nil {
		waitFor(t, func() bool {
			conn, err := tls.Dial("tcp", b.status.Listen, &tls.Config{InsecureSkipVerify: true})
			if err == nil {
				conn.Close()
			}
			return err == nil
		})
	} else {
		waitFor(t, func() bool { _, ok := tryGet(b.status.Listen); return ok })
	}
	return b
}

// apply writes the config and tells the balancer, as the provider does.
func (b *haproxyBalancer) apply() {
	writeConfig(b.t, b.config, b.cfg)
	b.cmd.Process.Signal(syscall.SIGHUP)
}

func (b *haproxyBalancer) get(headers map[string]string) (int, string) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + b.status.Listen + "/")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		return -1, err.Error()
	}
	return resp.StatusCode(), string(resp.Body())
}

func (b *haproxyBalancer) admin(path string) string {
	resp, err := http.Get("http://" + b.status.Admin + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// haproxyPids are the haproxy processes the worker runs.
func (b *haproxyBalancer) haproxyPids() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil || containsState(string(stat), 'Z') {
			continue
		}
		fields := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+2:])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if fields[1] == itoa(b.currentWorker()) && strings.Contains(string(cmdline), "haproxy") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (b *haproxyBalancer) currentWorker() int {
	raw, _ := os.ReadFile(filepath.Join(filepath.Dir(b.config), "status.json"))
	var st statusFile
	json.Unmarshal(raw, &st)
	return st.WorkerPid
}

// waitShowing waits as waitFor does, and says what the balancer showed when it gives up.
func (b *haproxyBalancer) waitShowing(cond func() bool, path string) {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("condition not reached in 5s; %s:\n%s", path, b.admin(path))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func shares(b *haproxyBalancer, n int, headers map[string]string) map[string]int {
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		status, body := b.get(headers)
		if status != 200 {
			body = fmt.Sprintf("status %d: %s", status, body)
		}
		seen[body]++
	}
	return seen
}

func TestHAProxyRoutesByWeightAndChangesWeightsWithoutAReload(t *testing.T) {
	b := startHAProxyBalancer(t, &Config{Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{upstream(t, "blue")}, Version: "v1"},
		"green": {Weight: 0, Endpoints: []string{upstream(t, "green")}, Version: "v2"},
	}})
	if got := shares(b, 50, nil); got["blue"] != 50 {
		t.Fatalf("blue at 100: %v", got)
	}
	before := b.haproxyPids()
	if len(before) != 1 {
		t.Fatalf("haproxy processes of the worker: %v", before)
	}

	b.cfg.Pools["blue"] = Pool{Weight: 50, Endpoints: b.cfg.Pools["blue"].Endpoints, Version: "v1"}
	b.cfg.Pools["green"] = Pool{Weight: 50, Endpoints: b.cfg.Pools["green"].Endpoints, Version: "v2"}
	asked := time.Now()
	b.apply()
	b.waitShowing(func() bool { return strings.Contains(b.admin("/config"), `"green":{"weight":50`) }, "/config")
	if took := time.Since(asked); took > 300*time.Millisecond {
		t.Fatalf("the weight change took %v to be read back", took)
	}
	got := shares(b, 400, nil)
	if got["blue"] < 140 || got["green"] < 140 || got["blue"]+got["green"] != 400 {
		t.Fatalf("50/50: %v", got)
	}
	if after := b.haproxyPids(); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("a weight change restarted haproxy: %v, then %v", before, after)
	}

	// The metrics the analysis reads, per pool and version, from haproxy's counters and its log's sample.
	b.waitShowing(func() bool {
		m := b.admin("/metrics")
		return strings.Contains(m, fmt.Sprintf(`cutover_proxy_requests_total{pool="green",version="v2"} %d`, got["green"])) &&
			// The start's probe, the 50 at 100%, and those of the 400 that blue drew.
			strings.Contains(m, fmt.Sprintf(`cutover_proxy_requests_total{pool="blue",version="v1"} %d`, 1+50+got["blue"])) &&
			strings.Contains(m, `cutover_proxy_request_duration_seconds_bucket{pool="green",version="v2",le="+Inf"}`)
	}, "/metrics")
}

func TestHAProxyStickyKeysOnlyMoveTowardsTheGrowingPoolAndTheForceHeaderNeedsItsKey(t *testing.T) {
	b := startHAProxyBalancer(t, &Config{
		StickyHeader: "X-User", ForceHeader: "X-Cutover-Pool", ForceKey: "s3cret:with:colons",
		Pools: map[string]Pool{
			"blue":  {Weight: 70, Endpoints: []string{upstream(t, "blue")}},
			"green": {Weight: 30, Endpoints: []string{upstream(t, "green")}},
		},
	})
	pickAll := func() map[string]string {
		picked := map[string]string{}
		for i := 0; i < 200; i++ {
			user := fmt.Sprintf("user-%d", i)
			_, body := b.get(map[string]string{"X-User": user})
			picked[user] = body
		}
		return picked
	}
	at30 := pickAll()
	if again := pickAll(); fmt.Sprint(again) != fmt.Sprint(at30) {
		t.Fatal("a sticky key changed pools with the weights unchanged")
	}
	b.cfg.Pools["blue"] = Pool{Weight: 40, Endpoints: b.cfg.Pools["blue"].Endpoints}
	b.cfg.Pools["green"] = Pool{Weight: 60, Endpoints: b.cfg.Pools["green"].Endpoints}
	b.apply()
	waitFor(t, func() bool { return strings.Contains(b.admin("/config"), `"green":{"weight":60`) })
	at60 := pickAll()
	moved, greenAt30 := 0, 0
	for user, pool := range at30 {
		if pool == "green" {
			greenAt30++
			if at60[user] != "green" {
				t.Fatalf("%s left the growing pool", user)
			}
		} else if at60[user] == "green" {
			moved++
		}
	}
	if greenAt30 < 30 || moved < 30 {
		t.Fatalf("green had %d of 200 keys at 30%%, and %d moved to it at 60%%", greenAt30, moved)
	}

	// The force header with the key chooses the pool; without it, or with another key, the weights do.
	// The instance never sees the header that carries the key.
	seen := startHAProxyBalancer(t, &Config{ForceHeader: "X-Cutover-Pool", ForceKey: "k", Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{headerUpstream(t, "blue")}}}})
	for _, h := range []string{"blue:k", "blue:wrong", "blue"} {
		if _, body := seen.get(map[string]string{"X-Cutover-Pool": h}); body != "blue|" {
			t.Fatalf("with %q the instance saw %q", h, body)
		}
	}
	for i := 0; i < 20; i++ {
		if _, body := b.get(map[string]string{"X-Cutover-Pool": "green:s3cret:with:colons", "X-User": "user-pinned-to-blue"}); body != "green" {
			t.Fatalf("forced with the key: %s", body)
		}
	}
	b.cfg.Pools["blue"] = Pool{Weight: 100, Endpoints: b.cfg.Pools["blue"].Endpoints}
	b.cfg.Pools["green"] = Pool{Weight: 0, Endpoints: b.cfg.Pools["green"].Endpoints}
	b.apply()
	waitFor(t, func() bool { return strings.Contains(b.admin("/config"), `"green":{"weight":0`) })
	for _, key := range []string{"green", "green:", "green:s3cret", "green:S3CRET:with:colons", "blue:s3cret:with:colons"} {
		if _, body := b.get(map[string]string{"X-Cutover-Pool": key}); body != "blue" {
			t.Fatalf("force header %q routed to %s", key, body)
		}
	}
	if strings.Contains(b.admin("/config"), "s3cret") {
		t.Fatal("the admin API shows the force key")
	}
	raw, _ := os.ReadFile(filepath.Join(filepath.Dir(b.config), "haproxy.cfg"))
	if strings.Contains(string(raw), "s3cret") {
		t.Fatal("haproxy's configuration holds the force key")
	}
	b.waitShowing(func() bool {
		return strings.Contains(b.admin("/metrics"), `cutover_proxy_forced_requests_total{pool="green",version=""} 20`)
	}, "/metrics")
}

// clients runs n clients, each sending one request after another, until the returned stop is called (it waits for them).
func clients(n int, request func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
					request()
				}
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// throughLoad is 4 clients sending requests through the balancer, counting those answered and those that failed.
type throughLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stop       func()
}

func loadThrough(b *haproxyBalancer) *throughLoad {
	l := &throughLoad{}
	l.stop = clients(4, func() {
		if status, body := b.get(nil); status == 200 {
			l.ok.Add(1)
		} else {
			l.failed.Add(1)
			l.mu.Lock()
			l.errs = append(l.errs, fmt.Sprintf("%d %s", status, body))
			l.mu.Unlock()
		}
	})
	return l
}

// expectNoneFailed fails the test with the first failures, once the load has stopped.
func (l *throughLoad) expectNoneFailed(t *testing.T) {
	t.Helper()
	if n := l.failed.Load(); n != 0 {
		t.Fatalf("%d requests failed: %v", n, l.errs[:min(len(l.errs), 5)])
	}
}

func TestHAProxySkipsADeadEndpointAndChangesEndpointsInPlaceUnderLoad(t *testing.T) {
	b := startHAProxyBalancer(t, &Config{
		HealthCheck: HealthCheck{IntervalMs: 200, TimeoutMs: 500},
		Pools:       map[string]Pool{"blue": {Weight: 100, Endpoints: []string{deadAddr(t), upstream(t, "a")}}},
	})
	l := loadThrough(b)
	waitFor(t, func() bool { return l.ok.Load() > 200 })
	// A new endpoint, the dead one and the old one gone: servers added and removed through the
	// runtime API, the same haproxy serving throughout (a reload would close idle client connections).
	before := b.haproxyPids()
	b.cfg.Pools["blue"] = Pool{Weight: 100, Endpoints: []string{upstream(t, "b")}}
	b.apply()
	waitFor(t, func() bool { _, body := b.get(nil); return body == "b" })
	n := l.ok.Load()
	waitFor(t, func() bool { return l.ok.Load() > n+200 })
	l.stop()
	l.expectNoneFailed(t)
	if after := b.haproxyPids(); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("an endpoint change restarted haproxy: %v, then %v", before, after)
	}
	// The servers no longer wanted are removed from haproxy, not only taken out of rotation.
	short := filepath.Join(os.TempDir(), fmt.Sprintf("hx-%d", os.Getpid()))
	if err := os.Symlink(filepath.Dir(b.config), short); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(short) })
	// Once idle: haproxy keeps a server's idle connections for reuse a few seconds (pool-purge-delay) before it lets it go.
	var state string
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		state, err = runtimeCommand(filepath.Join(short, "haproxy.sock"), "show servers state pool_blue")
		if err == nil && strings.Count(state, "pool_blue ") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers not removed in 30s: %s", state)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(state, " 127.0.0.1 ") {
		t.Fatalf("servers left: %s", state)
	}
}

func TestHAProxyKilledOrItsWorkerKilledServesAgainWithinASecond(t *testing.T) {
	b := startHAProxyBalancer(t, &Config{Pools: map[string]Pool{
		"blue":  {Weight: 0, Endpoints: []string{upstream(t, "blue")}},
		"green": {Weight: 100, Endpoints: []string{upstream(t, "green")}},
	}})
	b.cfg.Pools["blue"] = Pool{Weight: 100, Endpoints: b.cfg.Pools["blue"].Endpoints}
	b.cfg.Pools["green"] = Pool{Weight: 0, Endpoints: b.cfg.Pools["green"].Endpoints}
	b.apply()
	waitFor(t, func() bool { return strings.Contains(b.admin("/config"), `"blue":{"weight":100`) })
	for _, victim := range []string{"haproxy", "worker"} {
		pid := b.currentWorker()
		if victim == "haproxy" {
			pid = b.haproxyPids()[0]
		}
		killed := time.Now()
		syscall.Kill(pid, syscall.SIGKILL)
		for {
			if body, ok := tryGet(b.status.Listen); ok {
				// The weights it was last given, not the ones it started with.
				if body != "blue" {
					t.Fatalf("after the %s was killed: %q", victim, body)
				}
				break
			}
			if time.Since(killed) > time.Second {
				t.Fatalf("no answer within 1s of the %s's death", victim)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(t, func() bool { return len(b.haproxyPids()) == 1 })
}

// haproxy killed at any instant of a change (between adding servers, the
// routing map's commit and the weights' commit): the worker ends where it
// was asked to, and what /config reads back is what routes.
func TestHAProxyKilledMidChangeEndsWhereAskedWithItsReadBackTrue(t *testing.T) {
	names := map[string]string{}
	serve := func(name string) []string {
		addr := upstream(t, name)
		names[addr] = name
		return []string{addr}
	}
	b := startHAProxyBalancer(t, &Config{Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: serve("blue-0")},
		"green": {Weight: 0, Endpoints: serve("green-0")},
	}})
	for i := 1; i <= 8; i++ {
		// Odd rounds move the weights alone; even ones give both pools new servers as well.
		blue, green := b.cfg.Pools["blue"].Endpoints, b.cfg.Pools["green"].Endpoints
		if i%2 == 0 {
			blue, green = serve(fmt.Sprintf("blue-%d", i)), serve(fmt.Sprintf("green-%d", i))
		}
		blueWeight := 100 - b.cfg.Pools["blue"].Weight
		b.cfg.Pools["blue"] = Pool{Weight: blueWeight, Endpoints: blue}
		b.cfg.Pools["green"] = Pool{Weight: 100 - blueWeight, Endpoints: green}
		serving := names[green[0]]
		if blueWeight == 100 {
			serving = names[blue[0]]
		}
		pids := b.haproxyPids()
		if len(pids) != 1 {
			t.Fatalf("round %d: haproxy processes %v", i, pids)
		}
		b.apply()
		// Each round kills it a little later into the change.
		time.Sleep(time.Duration(2*i) * time.Millisecond)
		syscall.Kill(pids[0], syscall.SIGKILL)

		asked := fmt.Sprintf(`"blue":{"weight":%d,"endpoints":[%q]`, blueWeight, blue[0])
		deadline := time.Now().Add(5 * time.Second)
		for {
			config := b.admin("/config")
			if strings.Contains(config, asked) {
				// Read back as asked: every request goes where the read-back weights say.
				if got := shares(b, 20, nil); got[serving] != 20 {
					t.Fatalf("round %d: /config reads %s but requests went to %v", i, config, got)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: not at the asked weights within 5s (%s): %s", i, asked, config)
			}
			time.Sleep(20 * time.Millisecond)
		}
		waitFor(t, func() bool { return len(b.haproxyPids()) == 1 })
	}
}

func TestHAProxyDataPlaneRefusesNamesItCannotWriteSafely(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{
		{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", DataPlane: "haproxy", Pools: map[string]Pool{"blue green": {}}},
		{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", DataPlane: "haproxy", StickyHeader: "X-User\nglobal"},
		{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", DataPlane: "nginx"},
	} {
		path := filepath.Join(dir, "config.json")
		writeConfig(t, path, &cfg)
		if _, err := loadConfig(path); err == nil {
			t.Fatalf("accepted %+v", cfg)
		}
	}
}

// A haproxy a dead worker left behind is found by its directory, and only a haproxy is.
func TestHAProxyLeftByAnEarlierWorkerIsFoundByItsDirectory(t *testing.T) {
	dir := t.TempDir()
	start := func(name string) *exec.Cmd {
		cmd := exec.Command("bash", "-c", fmt.Sprintf("exec -a %s sleep 60", name))
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	stray := start("haproxy")
	start("not-haproxy")
	waitFor(t, func() bool { got := haproxyIn(dir); return len(got) == 1 && got[0] == stray.Process.Pid })
	if got := haproxyIn(t.TempDir()); len(got) != 0 {
		t.Fatalf("found in an empty directory: %v", got)
	}
}

// onBothDataPlanes runs a test against each data plane: start runs the real
// supervisor and worker on a config, carrying requests itself or through haproxy.
func onBothDataPlanes(t *testing.T, test func(t *testing.T, start func(*Config) *haproxyBalancer)) {
	t.Run("cutover-proxy", func(t *testing.T) {
		test(t, func(cfg *Config) *haproxyBalancer { return startBalancerProcess(t, cfg) })
	})
	t.Run("haproxy", func(t *testing.T) {
		test(t, func(cfg *Config) *haproxyBalancer { return startHAProxyBalancer(t, cfg) })
	})
}

// refusingHAProxy is haproxy, refusing to start while a file named "refuse" is in its working directory (the balancer's).
func refusingHAProxy(t *testing.T) {
	wrapper := filepath.Join(t.TempDir(), "haproxy")
	script := "#!/bin/sh\nif [ -e refuse ]; then echo 'refused by the test' >&2; exit 1; fi\nexec " + haproxyBinary() + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CUTOVER_HAPROXY_BIN", wrapper)
}

// A reload haproxy refuses to start leaves the routing in force, its files
// and its servers' names included: a haproxy that dies afterwards comes back
// serving that routing, where it once came back from the refused files with
// names they no longer had, and never served again.
func TestHAProxyRefusedReloadKeepsTheRoutingAndItsFiles(t *testing.T) {
	refusingHAProxy(t)
	a, other := upstream(t, "a"), upstream(t, "b")
	b := startHAProxyBalancer(t, &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{a}}}})
	refuse := filepath.Join(filepath.Dir(b.config), "refuse")
	if err := os.WriteFile(refuse, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A change haproxy must be reloaded for (the access log), to another endpoint.
	b.cfg.AccessLog = true
	b.cfg.Pools = map[string]Pool{"blue": {Weight: 100, Endpoints: []string{other}}}
	b.apply()
	time.Sleep(time.Second)
	if status, body := b.get(nil); status != 200 || body != "a" {
		t.Fatalf("after the refused reload: %d %q", status, body)
	}
	if shown := b.admin("/config"); strings.Contains(shown, other) || !strings.Contains(shown, a) {
		t.Fatalf("the refused routing is read back: %s", shown)
	}
	os.Remove(refuse)
	pids := b.haproxyPids()
	if len(pids) != 1 {
		t.Fatalf("haproxy processes: %v", pids)
	}
	syscall.Kill(pids[0], syscall.SIGKILL)
	waitFor(t, func() bool {
		status, body := b.get(nil)
		return status == 200 && body == "a" && len(b.haproxyPids()) == 1 && b.haproxyPids()[0] != pids[0]
	})
}

// While haproxy cannot be started again, the worker goes on trying (less
// and less often) and on taking changes and signals: stopped, it stops at
// once, where it once waited on its restart loop until its supervisor's
// grace ran out.
func TestHAProxyThatCannotStartAgainLeavesTheWorkerTakingSignals(t *testing.T) {
	refusingHAProxy(t)
	b := startHAProxyBalancer(t, &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upstream(t, "a")}}}})
	if err := os.WriteFile(filepath.Join(filepath.Dir(b.config), "refuse"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pids := b.haproxyPids()
	syscall.Kill(pids[0], syscall.SIGKILL)
	time.Sleep(500 * time.Millisecond)
	// A change meanwhile (it needs a haproxy, and cannot have one), then a stop.
	b.cfg.AccessLog = true
	b.apply()
	time.Sleep(500 * time.Millisecond)
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	asked := time.Now()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if took := time.Since(asked); err != nil || took > 5*time.Second {
			t.Fatalf("stopped after %v: %v", took, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the balancer did not stop")
	}
}

// The balancer's directory may hold characters a rule or a command could not
// take (a space, a comma, a parenthesis): haproxy names the files beside its
// configuration relative to it, and routes, changes weights and serves the
// maintenance page there as anywhere.
func TestHAProxyServesFromADirectoryWithSpacesAndCommas(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my app, (v2)")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	blue, green := upstream(t, "blue"), upstream(t, "green")
	cfg := &Config{DataPlane: dataPlaneHAProxy, AccessLog: true, Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{blue}, Version: "v1"},
		"green": {Weight: 0, Endpoints: []string{green}, Version: "v2"},
	}}
	b := startBalancerProcessIn(t, dir, cfg)
	if status, body := b.get(nil); status != 200 || body != "blue" {
		t.Fatalf("%d %q", status, body)
	}
	b.cfg.Pools = map[string]Pool{"blue": {Weight: 0, Endpoints: []string{blue}, Version: "v1"}, "green": {Weight: 100, Endpoints: []string{green}, Version: "v2"}}
	b.apply()
	waitFor(t, func() bool { _, body := b.get(nil); return body == "green" })
	b.cfg.Maintenance = &Maintenance{Mode: "page"}
	b.apply()
	waitFor(t, func() bool { status, _ := b.get(nil); return status == 503 })
	b.waitShowing(func() bool { return scraped(b.admin("/metrics"), "cutover_proxy_maintenance_pages_total") >= 1 }, "/metrics")
	if _, err := os.Stat(filepath.Join(dir, "access.log")); err != nil {
		t.Fatal(err)
	}
}
