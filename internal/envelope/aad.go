package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Format labels. They domain-separate the encodings so that an AAD built for
// one purpose can never be mistaken for another (e.g. a record binding and a
// key-wrap AAD with coincidentally equal fields).
const (
	bindingAADLabel = "secureportal/aad/v1"
	wrapAADLabel    = "secureportal/wrap-aad/v1"
)

// MaxBindingFieldLen bounds each Binding field. Identifiers are short; the
// bound keeps the uint32 length prefixes trivially exact.
const MaxBindingFieldLen = 4096

// Binding names the exact place a ciphertext belongs. Its canonical encoding
// (see AAD) is authenticated as AEAD associated data, so a ciphertext copied
// to another row, column, table or thread — or reused for another purpose —
// fails to open with ErrAuth.
//
// Only immutable attributes may be used: if a field could change (a title,
// a status, a mutable foreign key) the record would become undecryptable.
// Purpose, Table, Column and RowID are required; ThreadID may be empty for
// data that does not belong to a thread.
type Binding struct {
	Purpose  string // e.g. "message-body", "attachment"
	Table    string // e.g. "messages"
	Column   string // e.g. "body_ct"
	RowID    string // immutable primary key of the row
	ThreadID string // immutable thread id, or "" if not applicable
}

// AAD returns the canonical, injective encoding of b:
//
//	u32be(len(label)) || label || for each field in
//	(Purpose, Table, Column, RowID, ThreadID): u32be(len(field)) || field
//
// with label "secureportal/aad/v1". Length prefixes make the encoding
// unambiguous: ("ab","c") and ("a","bc") encode differently.
func (b Binding) AAD() []byte { return b.aadAfter(nil) }

// aadAfter returns header || b.AAD() in one new slice (a record's GCM
// associated data is its header followed by its binding). It never writes
// into header's spare capacity, where the caller's ciphertext may go.
func (b Binding) aadAfter(header []byte) []byte {
	return encodeFields(header, bindingAADLabel, b.Purpose, b.Table, b.Column, b.RowID, b.ThreadID)
}

func (b Binding) validate() error {
	if b.Purpose == "" || b.Table == "" || b.Column == "" || b.RowID == "" {
		return errors.New("envelope: invalid binding: Purpose, Table, Column and RowID are required")
	}
	for _, f := range [...]string{b.Purpose, b.Table, b.Column, b.RowID, b.ThreadID} {
		if len(f) > MaxBindingFieldLen {
			return fmt.Errorf("envelope: invalid binding: field longer than %d bytes", MaxBindingFieldLen)
		}
	}
	return nil
}

// WrapAAD returns the associated data to pass to KEKProvider.Wrap and
// Unwrap for a DEK. It binds the wrapped DEK to its data-key id and owner so
// that a wrapped key copied onto another data-key row or owner (e.g. another
// patient) does not unwrap. Encoding is the same length-prefixed scheme as
// Binding.AAD with label "secureportal/wrap-aad/v1".
func WrapAAD(dataKeyID string, ownerKind string, ownerID string) []byte {
	return encodeFields(nil, wrapAADLabel, dataKeyID, ownerKind, ownerID)
}

// encodeFields returns prefix followed by the length-prefixed label and
// fields, in one allocation: the only encoder of both AAD formats.
func encodeFields(prefix []byte, label string, fields ...string) []byte {
	n := len(prefix) + 4 + len(label)
	for _, f := range fields {
		n += 4 + len(f)
	}
	out := make([]byte, 0, n)
	out = append(out, prefix...)
	out = appendField(out, label)
	for _, f := range fields {
		out = appendField(out, f)
	}
	return out
}

func appendField(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}
