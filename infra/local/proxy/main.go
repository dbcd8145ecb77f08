// Command cutover-proxy is the local target's load balancer: it routes
// requests to named pools of upstreams by weight, reloads its routing on
// SIGHUP without touching the listener, and serves Prometheus metrics on an
// admin port.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	configPath := flag.String("config", "", "path of the JSON config file")
	statusPath := flag.String("status", "", "file to write the bound listen and admin addresses to (ports may be 0 in the config)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)
	cfg, err := loadConfig(*configPath)
	if err != nil {
		log.Fatalf("config: %v", err)
	}
	metrics := newMetricsRegistry()
	px := newProxy(newRouter(cfg, metrics), newClientCache())

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Fatalf("listen %s: %v", cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.Admin)
	if err != nil {
		log.Fatalf("listen %s: %v", cfg.Admin, err)
	}
	if *statusPath != "" {
		if err := writeStatus(*statusPath, ln.Addr().String(), adminLn.Addr().String()); err != nil {
			log.Fatalf("status: %v", err)
		}
	}
	server := newServer(px)
	admin := &http.Server{Handler: adminMux(px, metrics), ReadHeaderTimeout: 10 * time.Second}
	go func() { log.Println(server.Serve(ln)) }()
	go func() { log.Println(admin.Serve(adminLn)) }()
	log.Printf("listening on %s, admin on %s", cfg.Listen, cfg.Admin)

	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for sig := range signals {
		if sig == syscall.SIGHUP {
			reload(*configPath, px, metrics)
			continue
		}
		log.Printf("%s: draining", sig)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = server.ShutdownWithContext(ctx)
		_ = admin.Shutdown(ctx)
		cancel()
		return
	}
}

func reload(path string, px *proxy, metrics *metricsRegistry) {
	cfg, err := loadConfig(path)
	if err != nil {
		log.Printf("reload rejected, keeping current routing: %v", err)
		return
	}
	old := px.current.Load().cfg
	if !sameAddress(cfg.Listen, old.Listen) || !sameAddress(cfg.Admin, old.Admin) {
		log.Printf("reload rejected: listen and admin addresses cannot change in place")
		return
	}
	px.current.Store(newRouter(cfg, metrics))
	log.Printf("reloaded routing")
}

func adminMux(px *proxy, metrics *metricsRegistry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		metrics.write(w, px.current.Load())
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(px.current.Load().cfg)
	})
	return mux
}

func newServer(px *proxy) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                      px.serve,
		Name:                         "cutover-proxy",
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		NoDefaultDate:                true,
		DisablePreParseMultipartForm: true,
		StreamRequestBody:            true,
		MaxRequestBodySize:           64 << 20,
		IdleTimeout:                  120 * time.Second,
		CloseOnShutdown:              true,
	}
}

// writeStatus reports the addresses actually bound, atomically, so that a
// config asking for port 0 learns which port it got.
func writeStatus(path, listen, admin string) error {
	raw, err := json.Marshal(map[string]any{"listen": listen, "admin": admin, "supervisorPid": os.Getpid(), "workerPid": os.Getpid(), "workerRestarts": 0})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// sameAddress compares a configured address with a bound one, where port 0 matches any port.
func sameAddress(a, b string) bool {
	if a == b {
		return true
	}
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && ha == hb && (pa == "0" || pb == "0")
}
