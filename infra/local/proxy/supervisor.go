package main

import (
	"encoding/json"
	"errors"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// crashLoop is how many worker exits within crashWindow make the
// supervisor wait crashBackoff before the next start.
const (
	crashLoop    = 5
	crashWindow  = 10 * time.Second
	crashBackoff = time.Second
	stopGrace    = 15 * time.Second
)

// runSupervisor binds the sockets, keeps a worker serving on them and
// forwards SIGHUP (reload) and SIGTERM/SIGINT (drain and stop) to it.
func runSupervisor(configPath, statusPath string) int {
	cfg, err := loadConfigOrLastApplied(configPath)
	if err != nil {
		log.Printf("config: %v", err)
		return 2
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Printf("listen %s: %v", cfg.Listen, err)
		return 1
	}
	adminLn, err := net.Listen("tcp", cfg.Admin)
	if err != nil {
		log.Printf("listen %s: %v", cfg.Admin, err)
		return 1
	}
	listeners := []net.Listener{ln, adminLn}
	redirect := ""
	if addr := cfg.redirectListen(); addr != "" {
		redirectLn, err := net.Listen("tcp", addr)
		if err != nil {
			log.Printf("listen %s: %v", addr, err)
			return 1
		}
		listeners = append(listeners, redirectLn)
		redirect = redirectLn.Addr().String()
	}
	files, err := listenerFiles(listeners...)
	if err != nil {
		log.Printf("sockets: %v", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		log.Printf("executable: %v", err)
		return 1
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	var exits []time.Time
	for restarts := 0; ; restarts++ {
		cmd := exec.Command(self, "-worker", "-config", configPath)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.ExtraFiles = files
		if err := cmd.Start(); err != nil {
			log.Printf("starting a worker: %v", err)
			return 1
		}
		if statusPath != "" {
			if err := writeStatus(statusPath, ln.Addr().String(), adminLn.Addr().String(), redirect, cmd.Process.Pid, restarts); err != nil {
				log.Printf("status: %v", err)
			}
		}
		if stopped := superviseWorker(cmd, signals); stopped {
			return 0
		}
		exits = append(exits, time.Now())
		if len(exits) > crashLoop {
			exits = exits[1:]
		}
		if len(exits) == crashLoop && time.Since(exits[0]) < crashWindow {
			log.Printf("worker is crash looping: waiting %s", crashBackoff)
			if waitOrStop(signals, crashBackoff) {
				return 0
			}
		}
	}
}

// superviseWorker forwards signals until the worker exits, and reports
// whether that exit was a requested stop (true) or a death to repair (false).
func superviseWorker(cmd *exec.Cmd, signals chan os.Signal) bool {
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopping := false
	var kill <-chan time.Time
	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				_ = cmd.Process.Signal(syscall.SIGHUP)
				continue
			}
			if !stopping {
				stopping = true
				_ = cmd.Process.Signal(syscall.SIGTERM)
				kill = time.After(stopGrace)
			}
		case <-kill:
			_ = cmd.Process.Kill()
		case err := <-exited:
			if stopping {
				return true
			}
			// A worker exits 0 only when told to stop. A signal sent to the
			// whole process group can reach it before it reaches us.
			var exitErr *exec.ExitError
			if err == nil || (errors.As(err, &exitErr) && exitErr.ExitCode() == 0) {
				if waitOrStop(signals, 200*time.Millisecond) {
					return true
				}
			}
			log.Printf("worker %d exited (%v): starting another", cmd.Process.Pid, err)
			return false
		}
	}
}

// waitOrStop waits d, reporting true if a stop signal arrives meanwhile.
func waitOrStop(signals chan os.Signal, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case sig := <-signals:
			if sig != syscall.SIGHUP {
				return true
			}
		case <-timer.C:
			return false
		}
	}
}

func listenerFiles(listeners ...net.Listener) ([]*os.File, error) {
	files := make([]*os.File, 0, len(listeners))
	for _, l := range listeners {
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// writeStatus reports the addresses actually bound and the current worker,
// atomically, so that a config asking for port 0 learns which port it got.
func writeStatus(path, listen, admin, redirect string, workerPid, restarts int) error {
	status := map[string]any{
		"listen": listen, "admin": admin,
		"supervisorPid": os.Getpid(), "workerPid": workerPid, "workerRestarts": restarts,
	}
	if redirect != "" {
		status["redirect"] = redirect
	}
	raw, err := json.Marshal(status)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, raw)
}
