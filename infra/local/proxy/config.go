package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the proxy's whole routing state. It is read from a JSON file at
// start and again on SIGHUP; a config that fails validation is rejected and
// the running one stays in force.
type Config struct {
	Listen       string          `json:"listen"`
	Admin        string          `json:"admin"`
	Pools        map[string]Pool `json:"pools"`
	StickyHeader string          `json:"stickyHeader,omitempty"`
	StickyCookie string          `json:"stickyCookie,omitempty"`
	// ForceHeader and ForceKey together let a request choose its pool:
	// `<ForceHeader>: <pool>:<ForceKey>`. Without both, nothing forces a pool.
	ForceHeader string      `json:"forceHeader,omitempty"`
	ForceKey    string      `json:"forceKey,omitempty"`
	HealthCheck HealthCheck `json:"healthCheck,omitzero"`
	// Maintenance, when set, keeps routed requests from the pools (maintenance.go).
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	// TLS, when set, terminates TLS on the listen port (tls.go).
	TLS *TLSConfig `json:"tls,omitempty"`
	// HoldWhenUnavailableMs: a request that every endpoint refused waits up
	// to this long for one to come back, then is tried again (outage.go).
	HoldWhenUnavailableMs int `json:"holdWhenUnavailableMs,omitempty"`
	// DataPlane is what carries the requests: the proxy itself (empty), or
	// HAProxy driven by it ("haproxy", haproxy.go). It cannot change in place.
	DataPlane string `json:"dataPlane,omitempty"`
	// AccessLog: a JSON line per request in access.log beside the config (access_log.go).
	AccessLog bool `json:"accessLog,omitempty"`
	// UpstreamTimeoutMs is how long an instance may stay silent: before its
	// answer starts, or between two reads or writes of a request or an
	// answer on its way (0: defaultUpstreamTimeout). A request it expires
	// before its answer started gets a 504 and is never sent again.
	UpstreamTimeoutMs int `json:"upstreamTimeoutMs,omitempty"`
}

const (
	defaultUpstreamTimeout = 60 * time.Second
	maxUpstreamTimeoutMs   = 3_600_000
)

// upstreamTimeout is UpstreamTimeoutMs in force.
func (c *Config) upstreamTimeout() time.Duration {
	if c.UpstreamTimeoutMs > 0 {
		return time.Duration(c.UpstreamTimeoutMs) * time.Millisecond
	}
	return defaultUpstreamTimeout
}

// redirectListen is the plain HTTP address that redirects to HTTPS, if any.
func (c *Config) redirectListen() string {
	if c.TLS == nil {
		return ""
	}
	return c.TLS.RedirectListen
}

// forcing tells whether a request may choose its pool.
func (c *Config) forcing() bool { return c.ForceHeader != "" && c.ForceKey != "" }

// withoutKey is the config as the admin port shows it: the force key is left out.
func (c *Config) withoutKey() *Config {
	shown := *c
	shown.ForceKey = ""
	return &shown
}

// HealthCheck is how the proxy probes endpoints itself: an HTTP GET of Path
// (any 2xx or 3xx passes), or a TCP connect when Path is empty.
type HealthCheck struct {
	Path       string `json:"path,omitempty"`
	IntervalMs int    `json:"intervalMs,omitempty"`
	TimeoutMs  int    `json:"timeoutMs,omitempty"`
}

func (h HealthCheck) durations() (interval, timeout time.Duration) {
	interval, timeout = time.Second, time.Second
	if h.IntervalMs > 0 {
		interval = time.Duration(h.IntervalMs) * time.Millisecond
	}
	if h.TimeoutMs > 0 {
		timeout = time.Duration(h.TimeoutMs) * time.Millisecond
	}
	return interval, timeout
}

// Pool is a named set of equivalent upstream endpoints ("127.0.0.1:41001").
type Pool struct {
	Weight    int      `json:"weight"`
	Endpoints []string `json:"endpoints"`
	// Version is the release the pool serves; metrics carry it, so a query can address a version.
	Version string `json:"version,omitempty"`
}

func loadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if c.Listen == "" || c.Admin == "" {
		return nil, fmt.Errorf("config needs listen and admin addresses")
	}
	if c.HealthCheck.Path != "" && !strings.HasPrefix(c.HealthCheck.Path, "/") {
		return nil, fmt.Errorf("healthCheck.path must start with /")
	}
	if c.HealthCheck.IntervalMs < 0 || c.HealthCheck.TimeoutMs < 0 {
		return nil, fmt.Errorf("healthCheck durations must not be negative")
	}
	if c.UpstreamTimeoutMs < 0 || c.UpstreamTimeoutMs > maxUpstreamTimeoutMs {
		return nil, fmt.Errorf("upstreamTimeoutMs must lie in [0, %d]", maxUpstreamTimeoutMs)
	}
	if c.HoldWhenUnavailableMs < 0 || c.HoldWhenUnavailableMs > maxOutageHoldMs {
		return nil, fmt.Errorf("holdWhenUnavailableMs must lie in [0, %d]", maxOutageHoldMs)
	}
	if c.TLS != nil {
		if err := c.TLS.validate(); err != nil {
			return nil, err
		}
	}
	if c.Maintenance != nil {
		if err := c.Maintenance.validate(); err != nil {
			return nil, err
		}
	}
	switch c.DataPlane {
	case "":
	case dataPlaneHAProxy:
		if err := c.validateForHAProxy(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("dataPlane %q: empty (the proxy itself) or %q", c.DataPlane, dataPlaneHAProxy)
	}
	for name, p := range c.Pools {
		if p.Weight < 0 {
			return nil, fmt.Errorf("pool %s: negative weight", name)
		}
		if p.Weight > 0 && len(p.Endpoints) == 0 {
			return nil, fmt.Errorf("pool %s: weight %d but no endpoints", name, p.Weight)
		}
		for _, e := range p.Endpoints {
			if err := validEndpoint(e); err != nil {
				return nil, fmt.Errorf("pool %s: %w", name, err)
			}
		}
	}
	return &c, nil
}

// validEndpoint accepts an instance's address: an IP address and a port.
// Nothing else reaches a configuration or a command it is written into,
// and no name needs resolving when a balancer starts.
func validEndpoint(e string) error {
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		return fmt.Errorf("endpoint %q: an IP address and a port: %v", e, err)
	}
	n, err := strconv.Atoi(port)
	if ip, ipErr := netip.ParseAddr(host); ipErr != nil || ip.Zone() != "" || err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return fmt.Errorf("endpoint %q: an IP address and a port from 1 to 65535", e)
	}
	return nil
}

// poolNames returns pool names in a fixed order. Sticky routing lays the
// pools out on [0,1) in this order, first anchored at 0 and last at 1, so
// with two pools a growing weight only ever moves keys towards the pool
// that grows.
func (c *Config) poolNames() []string {
	names := make([]string, 0, len(c.Pools))
	for n := range c.Pools {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
