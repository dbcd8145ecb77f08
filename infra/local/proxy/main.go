// Command cutover-proxy is the local target's load balancer: it routes
// requests to named pools of upstreams by weight, retries and ejects
// failing endpoints, health-checks them, reloads its routing on SIGHUP
// without touching the listener, and serves Prometheus metrics and its
// state on an admin port.
//
// It runs as two processes. The supervisor binds the listen and admin
// sockets and keeps them; a worker inherits them and serves. A worker that
// dies is replaced at once with the last config, and connections that
// arrive meanwhile wait in the kernel's accept queue instead of being refused.
package main

import (
	"flag"
	"log"
	"os"
)

func main() {
	configPath := flag.String("config", "", "path of the JSON config file")
	statusPath := flag.String("status", "", "file to write the bound listen and admin addresses and the worker's pid to (ports may be 0 in the config)")
	worker := flag.Bool("worker", false, "serve on inherited sockets (started by the supervisor)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)
	if *worker {
		os.Exit(runWorker(*configPath))
	}
	os.Exit(runSupervisor(*configPath, *statusPath))
}
