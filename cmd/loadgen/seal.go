package main

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/postgres"
)

// sealer seals seeded content as postgres.DataKeys does for the portal
// (SealRecord, WriteStream): a fresh DEK per record, wrapped by the current
// KEK with envelope.WrapAAD naming the key row and its owner, the data
// sealed with the owner's Binding (postgres.SubjectSeal and friends). Only
// the inserts differ: rows are collected for COPY instead of inserted one
// by one.
type sealer struct {
	kek envelope.KEKProvider
}

// record seals plaintext for owner and appends its data_keys row to b.
func (s sealer) record(b *batch, owner postgres.Owner, bind envelope.Binding, plaintext []byte) (keyID string, ct []byte, err error) {
	keyID, dek, err := s.newKey(b, owner)
	if err != nil {
		return "", nil, err
	}
	ct, err = envelope.Seal(dek, bind, plaintext)
	if err != nil {
		return "", nil, fmt.Errorf("seal %s: %w", owner.Kind, err)
	}
	return keyID, ct, nil
}

// stream seals data as an attachment stream and appends its data_keys row
// and data_chunks rows (seq 0 the header, then one row per segment) to b.
func (s sealer) stream(b *batch, owner postgres.Owner, bind envelope.Binding, data []byte) (keyID string, err error) {
	keyID, dek, err := s.newKey(b, owner)
	if err != nil {
		return "", err
	}
	w := &chunkRows{b: b, keyID: keyID}
	if _, err := envelope.SealStream(w, dek, bind, bytes.NewReader(data), int64(len(data))); err != nil {
		return "", fmt.Errorf("seal %s: %w", owner.Kind, err)
	}
	return keyID, nil
}

func (s sealer) newKey(b *batch, owner postgres.Owner) (string, envelope.DEK, error) {
	id := newUUID()
	dek, version, wrapped, err := envelope.NewWrappedDEK(s.kek, envelope.WrapAAD(id, owner.Kind, owner.ID))
	if err != nil {
		return "", envelope.DEK{}, fmt.Errorf("new DEK: %w", err)
	}
	b.add(dataKeys, id, owner.Kind, owner.ID, owner.ThreadID, int32(version), wrapped)
	return id, dek, nil
}

// chunkRows turns each write of the stream sealer into a data_chunks row.
// The sealer reuses its buffer, so each write is copied.
type chunkRows struct {
	b     *batch
	keyID string
	seq   int32
}

func (c *chunkRows) Write(p []byte) (int, error) {
	c.b.add(dataChunks, c.keyID, c.seq, bytes.Clone(p))
	c.seq++
	return len(p), nil
}

// newUUID returns a random (version 4) UUID in canonical form, as the
// portal's ids are.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])         // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
