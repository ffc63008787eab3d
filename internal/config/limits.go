package config

import "time"

// Limits bounds what clients can hold of the portal: open connections, and
// how long each phase of a request may take (a slow client is cut, a slow
// but steady upload or download is not).
type Limits struct {
	// MaxConns is how many connections may be open at once
	// (PORTAL_MAX_CONNS). Beyond it a new connection is answered 503 with
	// Retry-After and closed; the server lowers it further when the
	// process's open-file limit could not hold that many.
	MaxConns int
	// MaxConnsPerIP is how many of them one client address may hold
	// (PORTAL_MAX_CONNS_PER_IP); an IPv6 client is its /64. Connections
	// from PORTAL_TRUSTED_PROXIES are not counted per address: behind a
	// proxy every client has the proxy's.
	MaxConnsPerIP int
	// ReadHeaderTimeout bounds reading a request's headers
	// (PORTAL_READ_HEADER_TIMEOUT).
	ReadHeaderTimeout time.Duration
	// BodyTimeout is the window of body reads (PORTAL_BODY_TIMEOUT): a body
	// must arrive in it, or at least MinRate*BodyTimeout bytes of it must,
	// and then again in every following window. A small form therefore has
	// BodyTimeout in all; an upload as long as it keeps the rate.
	BodyTimeout time.Duration
	// MinRate is the slowest a body may arrive, and a response be taken,
	// in bytes per second averaged over a window (PORTAL_MIN_TRANSFER_RATE).
	MinRate int64
	// WriteTimeout is how long a handler and its response may take
	// (PORTAL_WRITE_TIMEOUT), counted once the request has been read; a
	// response the client keeps taking at MinRate may take longer.
	WriteTimeout time.Duration
}

func (l *loader) limits() Limits {
	lim := Limits{
		MaxConns:          l.count("PORTAL_MAX_CONNS", 4096),
		MaxConnsPerIP:     l.count("PORTAL_MAX_CONNS_PER_IP", 64),
		ReadHeaderTimeout: l.duration("PORTAL_READ_HEADER_TIMEOUT", 10*time.Second),
		BodyTimeout:       l.duration("PORTAL_BODY_TIMEOUT", 10*time.Second),
		MinRate:           l.bytes("PORTAL_MIN_TRANSFER_RATE", 10<<10),
		WriteTimeout:      l.duration("PORTAL_WRITE_TIMEOUT", 2*time.Minute),
	}
	if lim.MaxConnsPerIP > lim.MaxConns {
		l.fail("PORTAL_MAX_CONNS_PER_IP", "must not be more than PORTAL_MAX_CONNS (%d)", lim.MaxConns)
	}
	return lim
}
