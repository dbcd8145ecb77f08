package main

import (
	"context"
	"encoding/json"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Inherited descriptors: the supervisor passes the listen socket as fd 3,
// the admin socket as fd 4 and, with TLS's redirect, its socket as fd 5.
const (
	listenFD   = 3
	adminFD    = 4
	redirectFD = 5
)

// runWorker serves on the supervisor's sockets until SIGTERM or SIGINT,
// when it drains and exits 0. SIGHUP reloads the routing.
func runWorker(configPath string) int {
	// Signals first: a reload asked for while the worker starts must not kill it.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	cfg, err := loadConfigOrLastApplied(configPath)
	if err != nil {
		log.Printf("config: %v", err)
		return 2
	}
	if cfg.DataPlane == dataPlaneHAProxy {
		return runHAProxyWorker(configPath, cfg, signals)
	}
	ln, err1 := net.FileListener(os.NewFile(listenFD, "listen"))
	adminLn, err2 := net.FileListener(os.NewFile(adminFD, "admin"))
	if err1 != nil || err2 != nil {
		log.Printf("inherited sockets: %v %v", err1, err2)
		return 2
	}
	saveApplied(configPath, cfg)
	metrics := newMetricsRegistry()
	endpoints := newEndpointTable()
	px := newProxy(newRouter(cfg, metrics, endpoints), newClientCache())
	px.access.in(filepath.Dir(configPath))
	defer px.access.close()
	ctx, stopChecks := context.WithCancel(context.Background())
	defer stopChecks()
	go newHealthChecker(px.current.Load).run(ctx)

	server := newServer(px)
	admin := &http.Server{Handler: adminMux(px, metrics), ReadHeaderTimeout: 10 * time.Second}
	go func() { log.Println(server.Serve(newTLSSwitch(ln, px.current.Load))) }()
	go func() { log.Println(admin.Serve(adminLn)) }()
	var redirect *fasthttp.Server
	if cfg.redirectListen() != "" {
		redirectLn, err := net.FileListener(os.NewFile(redirectFD, "redirect"))
		if err != nil {
			log.Printf("inherited redirect socket: %v", err)
			return 2
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		redirect = redirectServer(port)
		go func() { log.Println(redirect.Serve(redirectLn)) }()
	}
	log.Printf("worker %d serving on %s, admin on %s", os.Getpid(), ln.Addr(), adminLn.Addr())

	for sig := range signals {
		if sig == syscall.SIGHUP {
			reload(configPath, px, metrics, endpoints)
			continue
		}
		log.Printf("%s: draining", sig)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = server.ShutdownWithContext(ctx)
		_ = admin.Shutdown(ctx)
		if redirect != nil {
			_ = redirect.ShutdownWithContext(ctx)
		}
		cancel()
		return 0
	}
	return 0
}

func reload(path string, px *proxy, metrics *metricsRegistry, endpoints *endpointTable) {
	cfg, err := loadConfig(path)
	if err != nil {
		log.Printf("reload rejected, keeping current routing: %v", err)
		return
	}
	old := px.current.Load().cfg
	if !sameAddress(cfg.Listen, old.Listen) || !sameAddress(cfg.Admin, old.Admin) || !sameAddress(cfg.redirectListen(), old.redirectListen()) || cfg.DataPlane != old.DataPlane {
		log.Printf("reload rejected: listen, admin and redirect addresses and the data plane cannot change in place")
		return
	}
	px.swap(newRouter(cfg, metrics, endpoints))
	saveApplied(path, cfg)
	log.Printf("reloaded routing")
}

// appliedPath keeps the last config a worker accepted, so that a worker
// started after a bad config was written still serves the last good one.
func appliedPath(configPath string) string { return configPath + ".applied" }

func loadConfigOrLastApplied(path string) (*Config, error) {
	cfg, err := loadConfig(path)
	if err == nil {
		return cfg, nil
	}
	if last, lastErr := loadConfig(appliedPath(path)); lastErr == nil {
		log.Printf("config rejected (%v): serving the last applied config", err)
		return last, nil
	}
	return nil, err
}

func saveApplied(path string, cfg *Config) {
	raw, err := json.Marshal(cfg)
	if err == nil {
		err = writeFileAtomic(appliedPath(path), raw)
	}
	if err != nil {
		log.Printf("saving the applied config: %v", err)
	}
}

func writeFileAtomic(path string, raw []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func adminMux(px *proxy, metrics *metricsRegistry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", metrics.handler(px.current.Load))
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(px.current.Load().cfg.withoutKey())
	})
	mux.HandleFunc("GET /endpoints", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(reportEndpoints(px.current.Load()))
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

// sameAddress compares a configured address with a bound one, where port 0 matches any port.
func sameAddress(a, b string) bool {
	if a == b {
		return true
	}
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && ha == hb && (pa == "0" || pb == "0")
}
