package main

// TLS on the HAProxy data path: haproxy terminates it with the certificate
// and key of the config's files, put together into the one PEM file it
// reads (beside its configuration, readable by the worker's user alone).
// When the files change and hold a certificate with its key, the new one is
// handed to haproxy through its runtime API (`set ssl cert`, then `commit`):
// new connections get it, no reload. Files that do not load leave the last
// good certificate in use; with none ever loaded, a throwaway self-signed
// one lets haproxy start and serve nothing trusted until they do.

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
	"os"
	"strings"
	"time"
)

// certificatePEM reads the config's certificate chain and key as one PEM,
// checked to belong together and written afresh from their blocks: no
// text of the files but the blocks, and no blank line (which would end the
// runtime API's payload and let what follows be read as commands).
func certificatePEM(t *TLSConfig) ([]byte, error) {
	cert, err := os.ReadFile(t.CertFile)
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return nil, err
	}
	var chain, keyBlock []byte
	for rest := cert; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})...)
		}
	}
	for rest := key; keyBlock == nil; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") && len(block.Headers) == 0 {
			keyBlock = pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})
		}
	}
	if _, err := tls.X509KeyPair(chain, keyBlock); err != nil {
		return nil, err
	}
	return append(chain, keyBlock...), nil
}

// placeholderPEM is a self-signed certificate no client trusts, for a haproxy that must start before the files load.
func placeholderPEM() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "cutover-proxy placeholder: the configured certificate did not load"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), nil
}

// writeCertificate puts the PEM haproxy starts with in place: the files'
// when they load, else the one there already, else a placeholder.
func (w *haproxyWorker) writeCertificate(t *TLSConfig) error {
	stamp := fileStamp(t.CertFile, t.KeyFile)
	combined, err := certificatePEM(t)
	if err == nil {
		w.certStamp.Store(&stamp)
		return writeSecretAtomic(w.files.certificate(), combined)
	}
	if _, statErr := os.Stat(w.files.certificate()); statErr == nil {
		return nil
	}
	placeholder, perr := placeholderPEM()
	if perr != nil {
		return perr
	}
	return writeSecretAtomic(w.files.certificate(), placeholder)
}

// renewCertificate hands haproxy the files' certificate when they have
// changed since the one it serves and load.
func (w *haproxyWorker) renewCertificate(t *TLSConfig) error {
	stamp := fileStamp(t.CertFile, t.KeyFile)
	if last := w.certStamp.Load(); stamp == "" || (last != nil && *last == stamp) {
		return nil
	}
	combined, err := certificatePEM(t)
	if err != nil {
		// Half replaced, or not a pair: the one in use stays until they load.
		return nil
	}
	path := w.files.certificate()
	out, err := w.command(fmt.Sprintf("set ssl cert %s <<\n%s", path, combined))
	if err != nil || !strings.Contains(out, "Transaction") {
		return fmt.Errorf("set ssl cert: %v %q", err, strings.TrimSpace(out))
	}
	out, err = w.command("commit ssl cert " + path)
	if err != nil || !strings.Contains(out, "Success") {
		_, _ = w.command("abort ssl cert " + path)
		return fmt.Errorf("commit ssl cert: %v %q", err, strings.TrimSpace(out))
	}
	w.certStamp.Store(&stamp)
	// A haproxy started later reads the file.
	return writeSecretAtomic(path, combined)
}

// writeSecretAtomic writes a file only its owner reads, renamed into place.
func writeSecretAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
