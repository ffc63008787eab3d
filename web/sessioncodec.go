package web

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// sessionCodec stores a session's values as JSON, one map per type.
// scs's default, encoding/gob, sends each value's type description with
// every record, so every page view compiled a gob decoder afresh: about a
// twentieth of the portal's CPU on the inbox under load (docs/PERFORMANCE.md).
// The portal's sessions hold only the types below; putting any other is an
// error when the session is saved, not a value silently lost.
type sessionCodec struct{}

// sessionRecord is the stored form. It always begins with '{', which
// tells it from the gob records saved before this codec (decoded as
// before, so nobody is signed out by the upgrade).
type sessionRecord struct {
	Deadline time.Time         `json:"deadline"`
	Ints     map[string]int64  `json:"ints,omitempty"`
	Strings  map[string]string `json:"strings,omitempty"`
	Bools    map[string]bool   `json:"bools,omitempty"`
	Bytes    map[string][]byte `json:"bytes,omitempty"`
}

func (sessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	rec := sessionRecord{Deadline: deadline}
	for k, v := range values {
		switch v := v.(type) {
		case int64:
			rec.Ints = putValue(rec.Ints, k, v)
		case string:
			rec.Strings = putValue(rec.Strings, k, v)
		case bool:
			rec.Bools = putValue(rec.Bools, k, v)
		case []byte:
			rec.Bytes = putValue(rec.Bytes, k, v)
		default:
			return nil, fmt.Errorf("web: session value %q has type %T, which the session codec does not store", k, v)
		}
	}
	return json.Marshal(rec)
}

func putValue[V any](m map[string]V, k string, v V) map[string]V {
	if m == nil {
		m = map[string]V{}
	}
	m[k] = v
	return m
}

func (sessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) == 0 || b[0] != '{' {
		return scs.GobCodec{}.Decode(b)
	}
	var rec sessionRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return time.Time{}, nil, fmt.Errorf("web: session record: %w", err)
	}
	values := make(map[string]any, len(rec.Ints)+len(rec.Strings)+len(rec.Bools)+len(rec.Bytes))
	addValues(values, rec.Ints)
	addValues(values, rec.Strings)
	addValues(values, rec.Bools)
	addValues(values, rec.Bytes)
	return rec.Deadline, values, nil
}

func addValues[V any](dst map[string]any, src map[string]V) {
	for k, v := range src {
		dst[k] = v
	}
}
