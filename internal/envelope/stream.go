package envelope

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Stream format, version 1 — the STREAM construction (Hoang, Reyhanitabar,
// Rogaway, Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
// Misuse-Resistance", CRYPTO 2015) as instantiated by age and Tink's
// streaming AEAD:
//
//	header  = version (1 byte, = 1) || salt (32 bytes, random) || commitment (32 bytes)
//	segment = AES-256-GCM(streamKey, nonce_i, plaintext_i)   (no associated data)
//	nonce_i = u88be(i) || lastFlag                          (12 bytes)
//
// where streamKey and commitment are derived with HKDF-SHA256 from the DEK,
// the per-stream salt, and an info string that contains Binding.AAD():
//
//	streamKey  = HKDF(DEK, salt, "secureportal/stream/v1/aes-256-gcm-key" || AAD, 32)
//	commitment = HKDF(DEK, salt, "secureportal/stream/v1/key-commitment"  || AAD, 32)
//
// Every plaintext segment is SegmentSize bytes except the last, which is
// 1..SegmentSize bytes (0 bytes only when the whole stream is empty) and is
// the only one sealed with lastFlag = 1. Because position and finality are
// in the nonce, reordering, duplication, dropping segments, truncation at or
// between segment boundaries and appended data all fail authentication. The
// per-stream random salt gives every stream a fresh key, so counter nonces
// never repeat under one key even though the DEK is reused.
//
// Streaming decryption necessarily releases authenticated segments before the
// end of the stream has been seen: consumers must treat data as provisional
// until Read returns io.EOF, and discard it on any error.
const (
	streamFormatV1 = 1
	streamSaltSize = 32

	// StreamHeaderSize is the size of the stream header.
	StreamHeaderSize = 1 + streamSaltSize + commitmentSize

	// SegmentSize is the plaintext size of every segment but the last.
	SegmentSize = 64 << 10

	// SealedSegmentSize is the ciphertext size of every segment but the
	// last (which is between tagSize and SealedSegmentSize bytes).
	SealedSegmentSize = SegmentSize + tagSize
)

const (
	streamKeyInfo    = "secureportal/stream/v1/aes-256-gcm-key"
	streamCommitInfo = "secureportal/stream/v1/key-commitment"
)

// StreamCiphertextSize returns the exact ciphertext size of a stream of n
// plaintext bytes (n >= 0): header + n + one tag per segment.
func StreamCiphertextSize(n int64) int64 {
	segs := (n + SegmentSize - 1) / SegmentSize
	if segs == 0 {
		segs = 1 // an empty stream still has one (empty, final) segment
	}
	return StreamHeaderSize + n + segs*tagSize
}

// StreamPlaintextSize inverts StreamCiphertextSize. It fails with
// ErrMalformed if no plaintext size maps to ctSize.
func StreamPlaintextSize(ctSize int64) (int64, error) {
	body := ctSize - StreamHeaderSize
	if body < tagSize {
		return 0, fmt.Errorf("envelope: stream size %d too small: %w", ctSize, ErrMalformed)
	}
	full := body / SealedSegmentSize
	rem := body % SealedSegmentSize
	var n int64
	switch {
	case rem == 0: // last segment is exactly full
		n = full * SegmentSize
	case rem > tagSize: // short last segment
		n = full*SegmentSize + rem - tagSize
	case rem == tagSize && full == 0: // empty stream
		n = 0
	default:
		return 0, fmt.Errorf("envelope: stream size %d is not a valid ciphertext size: %w", ctSize, ErrMalformed)
	}
	return n, nil
}

func streamKeys(dek DEK, b Binding, salt []byte) (cipher.AEAD, [commitmentSize]byte, error) {
	aad := string(b.AAD())
	return deriveCommittedAEAD(dek.key.bytes(), salt, streamKeyInfo+aad, streamCommitInfo+aad)
}

// segmentNonce builds u88be(counter) || lastFlag. The counter is a uint64,
// so the top three bytes of the 88-bit field are always zero.
func segmentNonce(n *[nonceSize]byte, counter uint64, last bool) []byte {
	*n = [nonceSize]byte{}
	binary.BigEndian.PutUint64(n[3:11], counter)
	if last {
		n[11] = 1
	}
	return n[:]
}

// streamWriter buffers exactly one segment.
type streamWriter struct {
	w       io.Writer
	aead    cipher.AEAD
	buf     []byte // len SealedSegmentSize; plaintext accumulates in buf[:n]
	n       int
	counter uint64
	nonce   [nonceSize]byte
	closed  bool
	err     error
}

// NewStreamWriter returns a WriteCloser that encrypts everything written to
// it onto w, bound to b. Close must be called to write the final segment;
// without it the stream is (detectably) truncated. Close does not close w.
//
// Write-call framing, for stores that map writes to rows: the header is
// written to w in exactly one Write call of StreamHeaderSize bytes (during
// NewStreamWriter), then each sealed segment in exactly one Write call of
// SealedSegmentSize bytes (the final one: tagSize..SealedSegmentSize bytes).
// Reading the concatenation back needs no framing.
func NewStreamWriter(w io.Writer, dek DEK, b Binding) (io.WriteCloser, error) {
	return newStreamWriter(w, dek, b, rand.Reader)
}

func newStreamWriter(w io.Writer, dek DEK, b Binding, rnd io.Reader) (*streamWriter, error) {
	if err := dek.check(); err != nil {
		return nil, err
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	var hdr [StreamHeaderSize]byte
	hdr[0] = streamFormatV1
	salt := hdr[1 : 1+streamSaltSize]
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return nil, fmt.Errorf("envelope: generating stream salt: %w", err)
	}
	aead, commit, err := streamKeys(dek, b, salt)
	if err != nil {
		return nil, err
	}
	copy(hdr[1+streamSaltSize:], commit[:])
	if _, err := w.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("envelope: writing stream header: %w", err)
	}
	return &streamWriter{w: w, aead: aead, buf: make([]byte, SealedSegmentSize)}, nil
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("envelope: write to closed stream writer")
	}
	if s.err != nil {
		return 0, s.err
	}
	written := 0
	for len(p) > 0 {
		// A full buffer is sealed only once more data arrives: until then
		// it might be the final segment, which needs lastFlag = 1.
		if s.n == SegmentSize {
			if err := s.flush(false); err != nil {
				return written, err
			}
		}
		c := copy(s.buf[s.n:SegmentSize], p)
		s.n += c
		p = p[c:]
		written += c
	}
	return written, nil
}

// Close seals and writes the final segment. Calling Close again is a no-op.
func (s *streamWriter) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	if s.err != nil {
		return s.err
	}
	return s.flush(true)
}

func (s *streamWriter) flush(last bool) error {
	if s.counter == math.MaxUint64 {
		s.err = errors.New("envelope: stream too long")
		return s.err
	}
	sealed := s.aead.Seal(s.buf[:0], segmentNonce(&s.nonce, s.counter, last), s.buf[:s.n], nil)
	if _, err := s.w.Write(sealed); err != nil {
		s.err = fmt.Errorf("envelope: writing stream segment %d: %w", s.counter, err)
		return s.err
	}
	s.counter++
	s.n = 0
	return nil
}

// SealStream encrypts everything read from r onto w as one stream bound to
// b (see NewStreamWriter), reading at most limit+1 bytes: one byte past the
// limit is how "too large" is told apart from "exactly at the limit" without
// buffering anything. It returns the plaintext size. More than limit bytes
// is ErrTooLarge, with the stream left unfinished. An error of r is
// returned as it is, for the caller to classify (a broken upload, a size
// limit of its own); one of w comes wrapped by the stream writer.
func SealStream(w io.Writer, dek DEK, b Binding, r io.Reader, limit int64) (int64, error) {
	sw, err := NewStreamWriter(w, dek, b)
	if err != nil {
		return 0, err
	}
	size, err := io.Copy(sw, io.LimitReader(r, limit+1))
	if err != nil {
		return 0, err
	}
	if size > limit {
		return 0, fmt.Errorf("envelope: stream of more than %d bytes: %w", limit, ErrTooLarge)
	}
	if err := sw.Close(); err != nil {
		return 0, err
	}
	return size, nil
}

// streamReader holds one sealed segment plus one byte of look-ahead (to
// learn whether the segment is the last without trial decryption) and one
// plaintext segment.
type streamReader struct {
	r       io.Reader
	aead    cipher.AEAD
	ct      []byte // len SealedSegmentSize+1
	carry   int    // look-ahead bytes already at ct[:carry]
	pt      []byte // cap SegmentSize
	plain   []byte // unread plaintext (view into pt)
	counter uint64
	nonce   [nonceSize]byte
	done    bool
	err     error
}

// NewStreamReader reads and verifies the stream header from r (checking the
// key commitment, so a wrong DEK or Binding fails here with ErrAuth) and
// returns a Reader of the authenticated plaintext. Read returns io.EOF only
// after the final segment has been authenticated; truncation yields
// ErrTruncated or ErrAuth, and tampering, reordering, duplication or
// trailing data yield ErrAuth. Errors are sticky.
func NewStreamReader(r io.Reader, dek DEK, b Binding) (io.Reader, error) {
	if err := dek.check(); err != nil {
		return nil, err
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	var hdr [StreamHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("envelope: stream header: %w", ErrTruncated)
		}
		return nil, fmt.Errorf("envelope: reading stream header: %w", err)
	}
	if hdr[0] != streamFormatV1 {
		return nil, fmt.Errorf("envelope: unsupported stream format version %d: %w", hdr[0], ErrMalformed)
	}
	aead, commit, err := streamKeys(dek, b, hdr[1:1+streamSaltSize])
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(commit[:], hdr[1+streamSaltSize:]) != 1 {
		return nil, fmt.Errorf("envelope: stream header: key commitment mismatch: %w", ErrAuth)
	}
	return &streamReader{
		r:    r,
		aead: aead,
		ct:   make([]byte, SealedSegmentSize+1),
		pt:   make([]byte, 0, SegmentSize),
	}, nil
}

func (s *streamReader) Read(p []byte) (int, error) {
	for len(s.plain) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.done {
			return 0, io.EOF
		}
		if err := s.next(); err != nil {
			s.err = err
			s.plain = nil
			return 0, err
		}
	}
	n := copy(p, s.plain)
	s.plain = s.plain[n:]
	return n, nil
}

// next reads, authenticates and decrypts one segment into s.plain.
func (s *streamReader) next() error {
	n, err := io.ReadFull(s.r, s.ct[s.carry:])
	have := s.carry + n
	eof := false
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		eof = true
	default:
		return fmt.Errorf("envelope: reading stream segment %d: %w", s.counter, err)
	}
	if s.counter == math.MaxUint64 {
		return fmt.Errorf("envelope: stream too long: %w", ErrMalformed)
	}

	if !eof {
		// More bytes follow, so this must be a non-final segment.
		seg := s.ct[:SealedSegmentSize]
		pt, err := s.open(seg, false)
		if err != nil {
			if _, err2 := s.open(seg, true); err2 == nil {
				return fmt.Errorf("envelope: data after final stream segment %d: %w", s.counter, ErrAuth)
			}
			return fmt.Errorf("envelope: stream segment %d: %w", s.counter, ErrAuth)
		}
		s.ct[0] = s.ct[SealedSegmentSize]
		s.carry = 1
		s.counter++
		s.plain = pt
		return nil
	}

	// End of input: this must be the final segment.
	seg := s.ct[:have]
	if have < tagSize {
		return fmt.Errorf("envelope: stream ends inside segment %d: %w", s.counter, ErrTruncated)
	}
	pt, err := s.open(seg, true)
	if err != nil {
		if have == SealedSegmentSize {
			if _, err2 := s.open(seg, false); err2 == nil {
				return fmt.Errorf("envelope: stream ends after non-final segment %d: %w", s.counter, ErrTruncated)
			}
		}
		return fmt.Errorf("envelope: final stream segment %d: %w", s.counter, ErrAuth)
	}
	if len(pt) == 0 && s.counter != 0 {
		// The writer never emits an empty final segment after data.
		return fmt.Errorf("envelope: empty final stream segment %d: %w", s.counter, ErrMalformed)
	}
	s.carry = 0
	s.done = true
	s.plain = pt
	return nil
}

func (s *streamReader) open(seg []byte, last bool) ([]byte, error) {
	return s.aead.Open(s.pt[:0], segmentNonce(&s.nonce, s.counter, last), seg, nil)
}
