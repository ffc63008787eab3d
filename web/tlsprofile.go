package web

import "crypto/tls"

// tlsProfile is Mozilla's "intermediate" server profile for when the portal
// terminates TLS itself (PORTAL_TLS_CERT): TLS 1.2 and 1.3 only, and under
// TLS 1.2 only forward-secret AEAD suites (ECDHE with AES-GCM or
// ChaCha20-Poly1305). Go's defaults would also offer the CBC suites that
// testssl.sh flags (obsolete, LUCKY13). TLS 1.3 suites are Go's own, all
// AEAD, and not configurable; the key exchanges are Go's defaults (X25519,
// the hybrid post-quantum X25519MLKEM768, P-256, P-384).
func tlsProfile() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}
