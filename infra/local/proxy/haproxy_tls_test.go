package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// peerCertificate is the certificate the balancer shows a new connection: its serial and common name.
func peerCertificate(addr string) (int64, string, bool) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return 0, "", false
	}
	defer conn.Close()
	c := conn.ConnectionState().PeerCertificates[0]
	return c.SerialNumber.Int64(), c.Subject.CommonName, true
}

// redirectOf asks the plain HTTP socket for a path with a Host header; it returns the status and Location.
func redirectOf(t *testing.T, addr, host string) (int, string) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/a/b?c=1")
	req.Header.SetHost(host)
	req.UseHostHeader = true
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Header.Peek("Location"))
}

// HAProxy terminates TLS with the configured files: HSTS on every answer,
// the instances told the request came over HTTPS, plain HTTP redirected,
// a renewed certificate served without a reload, a broken file ignored,
// and a killed haproxy back with the certificate it last served.
func TestHAProxyTerminatesTLSWithHSTSRedirectAndRenewedCertificates(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, 1)
	b := startHAProxyBalancer(t, &Config{
		Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{protoUpstream(t)}}},
		TLS:   &TLSConfig{CertFile: certFile, KeyFile: keyFile, HSTSMaxAgeSeconds: 31536000, RedirectListen: "127.0.0.1:0"},
	})
	status, body, hsts, serial := tlsGet(t, b.status.Listen)
	if status != 200 || body != "https" || hsts != "max-age=31536000" || serial != 1 {
		t.Fatalf("status %d, body %q, hsts %q, serial %d", status, body, hsts, serial)
	}
	info, err := os.Stat(filepath.Join(filepath.Dir(b.config), "haproxy-cert.pem"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("haproxy's copy of the key: %v %v", info, err)
	}

	_, port, _ := strings.Cut(b.status.Listen, ":")
	for host, want := range map[string]string{"shop.example:8080": "https://shop.example:" + port + "/a/b?c=1", "[::1]:80": "https://[::1]:" + port + "/a/b?c=1", "shop.example": "https://shop.example:" + port + "/a/b?c=1"} {
		if status, location := redirectOf(t, b.status.Redirect, host); status != 308 || location != want {
			t.Fatalf("Host %s: %d %q, want %q", host, status, location, want)
		}
	}
	if status, location := redirectOf(t, b.status.Redirect, "evil.example/@x"); status != 400 || location != "" {
		t.Fatalf("a bad Host: %d %q", status, location)
	}

	pids := b.haproxyPids()
	time.Sleep(10 * time.Millisecond)
	writeCert(t, dir, 2)
	b.waitShowing(func() bool { s, _, _ := peerCertificate(b.status.Listen); return s == 2 }, "/config")
	if after := b.haproxyPids(); len(after) != 1 || after[0] != pids[0] {
		t.Fatalf("a renewed certificate restarted haproxy: %v, then %v", pids, after)
	}
	// A file that stops loading leaves the last good certificate in use.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if s, _, _ := peerCertificate(b.status.Listen); s != 2 {
		t.Fatalf("after a broken file: serial %d", s)
	}
	// haproxy killed: the next one serves the certificate the last one did, HSTS and all.
	syscall.Kill(pids[0], syscall.SIGKILL)
	b.waitShowing(func() bool {
		after := b.haproxyPids()
		return len(after) == 1 && after[0] != pids[0]
	}, "/config")
	waitFor(t, func() bool { s, _, ok := peerCertificate(b.status.Listen); return ok && s == 2 })
	if status, body, hsts, _ := tlsGet(t, b.status.Listen); status != 200 || body != "https" || hsts == "" {
		t.Fatalf("after the kill: %d %q %q", status, body, hsts)
	}
}

// Without files that load, haproxy still starts (on a placeholder no client
// trusts) and serves the configured certificate once they appear.
func TestHAProxyStartsBeforeTheCertificateFilesAndTakesThemWhenTheyLoad(t *testing.T) {
	dir := t.TempDir()
	b := startHAProxyBalancer(t, &Config{
		Pools: map[string]Pool{"blue": {Weight: 100, Endpoints: []string{protoUpstream(t)}}},
		TLS:   &TLSConfig{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")},
	})
	if _, name, ok := peerCertificate(b.status.Listen); !ok || !strings.Contains(name, "placeholder") {
		t.Fatalf("before the files: %q %v", name, ok)
	}
	if b.admin("/healthz") != "ok\n" {
		t.Fatal("the admin port should answer")
	}
	writeCert(t, dir, 7)
	b.waitShowing(func() bool { s, _, _ := peerCertificate(b.status.Listen); return s == 7 }, "/config")
}

// The PEM handed to haproxy is written afresh from the files' blocks: text
// between them (a blank line, then what would read as runtime commands)
// never reaches the runtime API.
func TestCertificatePEMKeepsOnlyTheBlocks(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, 3)
	cert, _ := os.ReadFile(certFile)
	key, _ := os.ReadFile(keyFile)
	if err := os.WriteFile(certFile, append(append([]byte("junk\n\nshutdown sessions server pool_blue/e0\n\n"), cert...), "\n\ndel server pool_blue/e0\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, append([]byte("\n\nclear map x\n"), key...), 0o600); err != nil {
		t.Fatal(err)
	}
	combined, err := certificatePEM(&TLSConfig{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(combined), "\n\n") || strings.Contains(string(combined), "server") || strings.Contains(string(combined), "map") {
		t.Fatalf("more than the blocks:\n%s", combined)
	}
	if _, err := tls.X509KeyPair(combined, combined); err != nil {
		t.Fatalf("not a certificate and its key: %v", err)
	}
}
