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
	if cfg.Listen != old.Listen || cfg.Admin != old.Admin {
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
