package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

type statusFile struct {
	Listen         string `json:"listen"`
	Admin          string `json:"admin"`
	Redirect       string `json:"redirect"`
	SupervisorPid  int    `json:"supervisorPid"`
	WorkerPid      int    `json:"workerPid"`
	WorkerRestarts int    `json:"workerRestarts"`
}

func buildProxy(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "cutover-proxy")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func writeConfig(t *testing.T, path string, cfg *Config) {
	raw, _ := json.Marshal(cfg)
	if err := writeFileAtomic(path, raw); err != nil {
		t.Fatal(err)
	}
}

func readStatus(t *testing.T, path string, accept func(statusFile) bool) statusFile {
	var st statusFile
	waitFor(t, func() bool {
		raw, err := os.ReadFile(path)
		return err == nil && json.Unmarshal(raw, &st) == nil && accept(st)
	})
	return st
}

// tryGet is one request on a fresh connection; it reports the body of a 200.
func tryGet(addr string) (string, bool) {
	status, body, err := getOnce(addr)
	return body, err == nil && status == 200
}

func alive(pid int) bool {
	raw, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	return err == nil && !containsState(string(raw), 'Z')
}

// The supervisor keeps the sockets: a killed worker is replaced within a
// second, serving the last config; SIGHUP and SIGTERM reach the worker.
func TestSupervisorReplacesAKilledWorkerWithTheLastConfig(t *testing.T) {
	bin := buildProxy(t)
	dir := t.TempDir()
	config, status := filepath.Join(dir, "config.json"), filepath.Join(dir, "status.json")
	cfg := &Config{Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upstream(t, "a")}}}}
	writeConfig(t, config, cfg)
	cmd := exec.Command(bin, "-config", config, "-status", status)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	st := readStatus(t, status, func(s statusFile) bool { return s.WorkerPid != 0 })
	waitFor(t, func() bool { body, ok := tryGet(st.Listen); return ok && body == "a" })

	cfg.Pools = map[string]Pool{"blue": {Weight: 100, Endpoints: []string{upstream(t, "b")}}}
	writeConfig(t, config, cfg)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { body, ok := tryGet(st.Listen); return ok && body == "b" })

	// A config the worker rejects is not what a restarted worker serves.
	os.WriteFile(config, []byte("{not json"), 0o600)
	killed := time.Now()
	syscall.Kill(st.WorkerPid, syscall.SIGKILL)
	for {
		if body, ok := tryGet(st.Listen); ok {
			if body != "b" {
				t.Fatalf("restarted worker serves %q, want the last config", body)
			}
			break
		}
		if time.Since(killed) > time.Second {
			t.Fatal("no answer within 1s of the worker's death")
		}
		time.Sleep(5 * time.Millisecond)
	}
	next := readStatus(t, status, func(s statusFile) bool { return s.WorkerRestarts == 1 })
	if next.WorkerPid == st.WorkerPid || next.Listen != st.Listen || next.Admin != st.Admin {
		t.Fatalf("status after restart: %+v (before %+v)", next, st)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("supervisor exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor did not stop on SIGTERM")
	}
	waitFor(t, func() bool { return !alive(next.WorkerPid) })
}
