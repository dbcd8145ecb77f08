package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with this serial, and its key.
func writeCert(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("cutover test %d", serial)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Written beside and renamed into place, as certificate tools do.
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path+".new", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// protoUpstream answers with the X-Forwarded-Proto it was sent.
func protoUpstream(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.Request.Header.Peek("X-Forwarded-Proto")) }}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func servingTLS(t *testing.T, cfg *Config) (*proxy, string) {
	px, _, addr := servingWith(t, cfg, func(ln net.Listener, px *proxy) net.Listener { return newTLSSwitch(ln, px.current.Load) })
	return px, addr
}

// tlsGet makes one request on a new connection and returns the status, body, HSTS header and the server certificate's serial.
func tlsGet(t *testing.T, addr string) (int, string, string, int64) {
	client := &fasthttp.HostClient{Addr: addr, IsTLS: true, TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("https://" + addr + "/")
	if err := client.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	serial := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	return resp.StatusCode(), string(resp.Body()), string(resp.Header.Peek("Strict-Transport-Security")), serial
}

func TestTLSTerminationWithHSTSAndCertificatesReadAgainWhenTheyChange(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, 1)
	cfg := &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{protoUpstream(t)}}}, TLS: &TLSConfig{CertFile: certFile, KeyFile: keyFile, HSTSMaxAgeSeconds: 31536000}}
	if err := cfg.TLS.validate(); err != nil {
		t.Fatal(err)
	}
	_, addr := servingTLS(t, cfg)
	status, body, hsts, serial := tlsGet(t, addr)
	if status != 200 || body != "https" || hsts != "max-age=31536000" || serial != 1 {
		t.Fatalf("status %d, body %q, hsts %q, serial %d", status, body, hsts, serial)
	}
	// A renewed certificate is served on new connections, without a reload.
	time.Sleep(10 * time.Millisecond)
	writeCert(t, dir, 2)
	waitUntil(t, func() bool { _, _, _, s := tlsGet(t, addr); return s == 2 })
	// A file that stops loading leaves the last good certificate in use.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(certRecheck + 100*time.Millisecond)
	if _, _, _, s := tlsGet(t, addr); s != 2 {
		t.Fatalf("after a broken file: serial %d", s)
	}
}

func TestPlainHTTPRedirectsToHTTPS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for port, cases := range map[string]map[string]string{
		"8443": {"shop.example:8080": "https://shop.example:8443/a/b?c=1", "[::1]:80": "https://[::1]:8443/a/b?c=1"},
		"443":  {"shop.example": "https://shop.example/a/b?c=1"},
	} {
		srv := redirectServer(port)
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		go srv.Serve(l)
		for host, want := range cases {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://" + l.Addr().String() + "/a/b?c=1")
			req.Header.SetHost(host)
			req.UseHostHeader = true
			if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != 308 || string(resp.Header.Peek("Location")) != want {
				t.Fatalf("%s via %s: %d %q", host, port, resp.StatusCode(), resp.Header.Peek("Location"))
			}
		}
		srv.Shutdown()
	}
	ln.Close()
}

func TestTLSSettingsAreChecked(t *testing.T) {
	for _, bad := range []*TLSConfig{{CertFile: "cert.pem"}, {KeyFile: "key.pem"}, {CertFile: "c", KeyFile: "k", HSTSMaxAgeSeconds: -1}} {
		if err := bad.validate(); err == nil || !strings.HasPrefix(err.Error(), "tls") {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
}

func TestAHandshakeWithoutALoadableCertificateFailsAndTheProxyStaysUp(t *testing.T) {
	dir := t.TempDir()
	cfg := &Config{Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{protoUpstream(t)}}}, TLS: &TLSConfig{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}}
	_, addr := servingTLS(t, cfg)
	if _, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		t.Fatal("a handshake without a certificate succeeded")
	}
	writeCert(t, dir, 7)
	waitUntil(t, func() bool {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return false
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64() == 7
	})
}
