package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// TLSConfig terminates TLS on the listen port with a certificate and key
// read from files, read again whenever either file changes. With
// RedirectListen, a second (plain HTTP) socket answers every request with a
// redirect to HTTPS; with HSTSMaxAgeSeconds, HTTPS answers carry
// Strict-Transport-Security.
type TLSConfig struct {
	CertFile          string `json:"certFile"`
	KeyFile           string `json:"keyFile"`
	HSTSMaxAgeSeconds int    `json:"hstsMaxAgeSeconds,omitempty"`
	RedirectListen    string `json:"redirectListen,omitempty"`
}

func (t *TLSConfig) validate() error {
	if t.CertFile == "" || t.KeyFile == "" {
		return fmt.Errorf("tls needs certFile and keyFile")
	}
	if t.HSTSMaxAgeSeconds < 0 {
		return fmt.Errorf("tls.hstsMaxAgeSeconds must not be negative")
	}
	return nil
}

// certRecheck is how often the files are looked at again (their modification times).
const certRecheck = time.Second

// certificates hands out the certificate the routing in force names,
// loading it again when its files change. A file that no longer loads
// leaves the last good certificate in use. The files are not read when a
// config is loaded: a proxy restarted while they are being replaced must
// still come up and serve its plain admin port.
type certificates struct {
	current func() *router
	mu      sync.Mutex
	loaded  map[string]*loadedCert
}

type loadedCert struct {
	cert      *tls.Certificate
	stamp     string
	checkedAt time.Time
}

func newCertificates(current func() *router) *certificates {
	return &certificates{current: current, loaded: map[string]*loadedCert{}}
}

func fileStamp(paths ...string) string {
	stamp := ""
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return ""
		}
		stamp += p + "@" + strconv.FormatInt(info.ModTime().UnixNano(), 10) + "/" + strconv.FormatInt(info.Size(), 10) + ";"
	}
	return stamp
}

func (c *certificates) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	t := c.current().cfg.TLS
	if t == nil {
		return nil, fmt.Errorf("tls is off")
	}
	key := t.CertFile + "\x00" + t.KeyFile
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.loaded[key]
	if l != nil && time.Since(l.checkedAt) < certRecheck {
		return l.cert, nil
	}
	stamp := fileStamp(t.CertFile, t.KeyFile)
	if l != nil && stamp == l.stamp {
		l.checkedAt = time.Now()
		return l.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		if l != nil {
			l.checkedAt = time.Now()
			return l.cert, nil
		}
		return nil, err
	}
	c.loaded = map[string]*loadedCert{key: {cert: &pair, stamp: stamp, checkedAt: time.Now()}}
	return &pair, nil
}

// tlsSwitch serves TLS on accepted connections while the routing in force
// has TLS, and plain HTTP while it has not, so a reload turns it on or off.
type tlsSwitch struct {
	net.Listener
	current func() *router
	config  *tls.Config
}

func newTLSSwitch(ln net.Listener, current func() *router) *tlsSwitch {
	certs := newCertificates(current)
	return &tlsSwitch{Listener: ln, current: current, config: &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.get,
		NextProtos:     []string{"http/1.1"},
	}}
}

func (s *tlsSwitch) Accept() (net.Conn, error) {
	conn, err := s.Listener.Accept()
	if err != nil || s.current().cfg.TLS == nil {
		return conn, err
	}
	return tls.Server(conn, s.config), nil
}

// redirectServer answers every request on the plain HTTP socket with a
// permanent redirect to the same host and path over HTTPS on httpsPort.
func redirectServer(httpsPort string) *fasthttp.Server {
	return &fasthttp.Server{
		Name:                  "cutover-proxy",
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		IdleTimeout:           30 * time.Second,
		Handler: func(ctx *fasthttp.RequestCtx) {
			host := string(ctx.Host())
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
			if host == "" || strings.ContainsAny(host, "/\\@ ") {
				ctx.Error("a valid Host header is needed\n", fasthttp.StatusBadRequest)
				return
			}
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			target := "https://" + host
			if httpsPort != "443" {
				target += ":" + httpsPort
			}
			ctx.Response.Header.Set("Location", target+string(ctx.RequestURI()))
			ctx.SetStatusCode(fasthttp.StatusPermanentRedirect)
		},
	}
}
