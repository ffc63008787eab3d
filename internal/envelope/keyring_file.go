package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// keyringFile is the JSON form of a keyring file (format in Keyring's doc).
// This file holds what touches that file: parsing, encoding, and atomic
// replacement.
type keyringFile struct {
	Format int              `json:"format"`
	Keys   []keyringFileKey `json:"keys"`
}

type keyringFileKey struct {
	Version   uint32    `json:"version"`
	State     KeyState  `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	Key       string    `json:"key,omitempty"`
}

// parseKeyring validates and decodes a keyring file. It is strict (unknown
// fields, trailing data, duplicate versions, bad key lengths and anything but
// exactly one active key are rejected with ErrMalformed) because a silently
// misread keyring can strand or mis-wrap data.
func parseKeyring(data []byte) (map[uint32]kekEntry, uint32, error) {
	if len(data) > maxKeyringFile {
		return nil, 0, fmt.Errorf("file larger than %d bytes: %w", maxKeyringFile, ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var kf keyringFile
	if err := dec.Decode(&kf); err != nil {
		return nil, 0, fmt.Errorf("invalid JSON (%v): %w", err, ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, fmt.Errorf("trailing data after JSON object: %w", ErrMalformed)
	}
	if kf.Format != keyringFormatV1 {
		return nil, 0, fmt.Errorf("unsupported format %d: %w", kf.Format, ErrMalformed)
	}
	if len(kf.Keys) == 0 {
		return nil, 0, fmt.Errorf("no keys: %w", ErrMalformed)
	}
	keys := make(map[uint32]kekEntry, len(kf.Keys))
	var current uint32
	for _, fk := range kf.Keys {
		if fk.Version == 0 {
			return nil, 0, fmt.Errorf("key version 0 is reserved: %w", ErrMalformed)
		}
		if _, dup := keys[fk.Version]; dup {
			return nil, 0, fmt.Errorf("duplicate key version %d: %w", fk.Version, ErrMalformed)
		}
		e := kekEntry{state: fk.State, created: fk.CreatedAt}
		switch fk.State {
		case KeyActive, KeyDecryptOnly:
			raw, err := base64.StdEncoding.Strict().DecodeString(fk.Key)
			if err != nil || len(raw) != kekSize {
				return nil, 0, fmt.Errorf("key version %d: key must be %d bytes of standard base64: %w", fk.Version, kekSize, ErrMalformed)
			}
			e.key = &secretKey{b: new([32]byte)}
			copy(e.key.b[:], raw)
		case KeyRetired:
			if fk.Key != "" {
				return nil, 0, fmt.Errorf("key version %d: retired keys must not contain key material: %w", fk.Version, ErrMalformed)
			}
		default:
			return nil, 0, fmt.Errorf("key version %d: unknown state %q: %w", fk.Version, fk.State, ErrMalformed)
		}
		if fk.State == KeyActive {
			if current != 0 {
				return nil, 0, fmt.Errorf("more than one active key (%d and %d): %w", current, fk.Version, ErrMalformed)
			}
			current = fk.Version
		}
		keys[fk.Version] = e
	}
	if current == 0 {
		return nil, 0, fmt.Errorf("no active key: %w", ErrMalformed)
	}
	return keys, current, nil
}

func (k *Keyring) marshal(keys map[uint32]kekEntry) ([]byte, error) {
	kf := keyringFile{Format: keyringFormatV1}
	for _, v := range slices.Sorted(maps.Keys(keys)) {
		e := keys[v]
		fk := keyringFileKey{Version: v, State: e.state, CreatedAt: e.created}
		if e.key != nil {
			fk.Key = base64.StdEncoding.EncodeToString(e.key.bytes())
		}
		kf.Keys = append(kf.Keys, fk)
	}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("envelope: encoding keyring: %w", err)
	}
	return append(data, '\n'), nil
}

// save atomically replaces the keyring file: write a 0600 temp file in the
// same directory, fsync, rename over the old file, fsync the directory. A
// crash leaves either the old or the new keyring, never a torn one.
func (k *Keyring) save(keys map[uint32]kekEntry) error {
	data, err := k.marshal(keys)
	if err != nil {
		return err
	}
	dir := filepath.Dir(k.path)
	f, err := os.CreateTemp(dir, ".keyring-*.tmp")
	if err != nil {
		return fmt.Errorf("envelope: saving keyring: %w", err)
	}
	tmp := f.Name()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("envelope: saving keyring: %w", err)
	}
	if err := writeSyncClose(f, data); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("envelope: saving keyring: %w", err)
	}
	if err := os.Rename(tmp, k.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("envelope: saving keyring: %w", err)
	}
	syncDir(dir)
	return nil
}

func writeSyncClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a create/rename durable. Best effort: not all platforms
// support fsync on directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
