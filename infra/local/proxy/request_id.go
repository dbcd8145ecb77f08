package main

// Every request reaches its instance with an X-Request-Id, the same on both
// data planes: the client's own when it sent exactly one that is safe to
// carry and log (1 to 128 of A-Z a-z 0-9 . _ : -), a new random UUID
// otherwise. The answer carries it back unless the instance set its own,
// and the access log writes it, so a client's report, a line there and the
// instance's own log of the request can be matched.

import (
	"bytes"
	"math/rand/v2"

	"github.com/valyala/fasthttp"
)

const (
	requestIDHeader = "X-Request-Id"
	requestIDMax    = 128
	// requestIDPattern is requestIDAcceptable as HAProxy matches it (haproxy.go).
	requestIDPattern = `^[A-Za-z0-9._:-]{1,128}$`
)

// requestID keeps the request's own ID if it is acceptable, or gives it a new one; it returns the ID in force.
func requestID(h *fasthttp.RequestHeader) []byte {
	if sent := h.PeekAll(requestIDHeader); len(sent) == 1 && requestIDAcceptable(sent[0]) {
		return sent[0]
	}
	var id [36]byte
	newUUID(&id)
	// Set alone would replace the first of several.
	h.Del(requestIDHeader)
	h.SetBytesV(requestIDHeader, id[:])
	return h.Peek(requestIDHeader)
}

// answerRequestID gives the answer the request's ID, unless the instance named one itself (in any case).
func answerRequestID(h *fasthttp.ResponseHeader, id []byte) {
	for k := range h.All() {
		if len(k) == len(requestIDHeader) && bytes.EqualFold(k, []byte(requestIDHeader)) {
			return
		}
	}
	h.SetBytesV(requestIDHeader, id)
}

func requestIDAcceptable(id []byte) bool {
	if len(id) == 0 || len(id) > requestIDMax {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// newUUID writes a random (version 4) UUID. Unique, not secret: it comes from the runtime's fast generator.
func newUUID(dst *[36]byte) {
	var b [16]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i], b[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexDigits = "0123456789abcdef"
	j := 0
	for i, v := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = hexDigits[v>>4], hexDigits[v&0x0f]
		j += 2
	}
}
