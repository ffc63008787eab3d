package password

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds applied when *parsing* a stored hash. They are deliberately wider
// than what NewHasher accepts so that legacy hashes made with weaker (or
// stronger) parameters still verify and are then flagged for rehash, but
// narrow enough that a tampered row cannot make Verify allocate gigabytes or
// spin for minutes.
const (
	parseMaxMemory  = 1 << 20 // KiB, i.e. 1 GiB
	parseMaxTime    = 64
	parseMinSaltLen = 8 // RFC 9106 §3.1 recommends 16; 8 is the PHC minimum
	parseMaxSaltLen = 64
	parseMinKeyLen  = 16
	parseMaxKeyLen  = 64
)

// b64 is the PHC string format's base64 flavour: standard alphabet, no
// padding. Strict rejects non-zero trailing bits so each value has exactly one
// encoding (we additionally round-trip to reject embedded newlines).
var b64 = base64.RawStdEncoding.Strict()

// phcHash is a parsed "$argon2id$v=19$m=...,t=...,p=...$salt$key" string.
type phcHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func (h phcHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.memory, h.time, h.threads,
		b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

func malformed(what string) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, what)
}

// parsePHC parses an argon2id PHC string. It accepts only the canonical form
// this package produces (fixed parameter order, no optional fields) because
// the portal is the only writer of these strings; anything else indicates
// corruption or tampering.
func parsePHC(s string) (phcHash, error) {
	var h phcHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return h, malformed("wrong number of fields")
	}
	if parts[1] != "argon2id" {
		return h, malformed("unsupported algorithm")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, malformed("unsupported version")
	}

	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return h, malformed("wrong parameter list")
	}
	m, err := parseParam(kv[0], "m=", 1, parseMaxMemory)
	if err != nil {
		return h, err
	}
	t, err := parseParam(kv[1], "t=", 1, parseMaxTime)
	if err != nil {
		return h, err
	}
	p, err := parseParam(kv[2], "p=", 1, 255)
	if err != nil {
		return h, err
	}
	// argon2 needs at least 8 KiB per lane.
	if m < 8*p {
		return h, malformed("memory below 8*p KiB")
	}
	h.memory, h.time, h.threads = m, t, uint8(p)

	if h.salt, err = decodeB64(parts[4], parseMinSaltLen, parseMaxSaltLen, "salt"); err != nil {
		return h, err
	}
	if h.key, err = decodeB64(parts[5], parseMinKeyLen, parseMaxKeyLen, "key"); err != nil {
		return h, err
	}
	return h, nil
}

func parseParam(field, prefix string, lo, hi uint32) (uint32, error) {
	name := strings.TrimSuffix(prefix, "=")
	digits, ok := strings.CutPrefix(field, prefix)
	// Canonical decimal only: no sign, no leading zeros, bounded length.
	if !ok || digits == "" || len(digits) > 10 || (len(digits) > 1 && digits[0] == '0') {
		return 0, malformed("bad parameter " + name)
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, malformed("bad parameter " + name)
	}
	if uint32(v) < lo || uint32(v) > hi {
		return 0, malformed("parameter " + name + " out of range")
	}
	return uint32(v), nil
}

func decodeB64(s string, minLen, maxLen int, what string) ([]byte, error) {
	// Cheap length guard before decoding anything attacker-sized.
	if s == "" || len(s) > b64.EncodedLen(maxLen) {
		return nil, malformed(what + " length out of range")
	}
	b, err := b64.DecodeString(s)
	if err != nil || b64.EncodeToString(b) != s {
		return nil, malformed(what + " is not canonical base64")
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, malformed(what + " length out of range")
	}
	return b, nil
}
