package web

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Every type the portal puts in a session comes back as it went in, with
// its type (scs's GetInt64 and friends assert the exact type).
func TestSessionCodecKeepsEveryValueAndItsType(t *testing.T) {
	deadline := time.Date(2026, 12, 2, 15, 4, 5, 6, time.UTC)
	in := map[string]any{sessUserID: int64(42), sessEpoch: int64(-1), sessSeen: time.Now().UnixMilli(),
		"next": "/threads/x?y=1", "enrol": true, "off": false, "ceremony": []byte{0, 1, 2, 255}}
	b, err := sessionCodec{}.Encode(deadline, in)
	if err != nil {
		t.Fatal(err)
	}
	gotDeadline, out, err := sessionCodec{}.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !gotDeadline.Equal(deadline) {
		t.Errorf("deadline %v, want %v", gotDeadline, deadline)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("decoded %#v, want %#v", out, in)
	}
}

// A value of another type is refused when the session is saved, never
// dropped or turned into something else on the way back.
func TestSessionCodecRefusesATypeItDoesNotStore(t *testing.T) {
	_, err := sessionCodec{}.Encode(time.Now(), map[string]any{"count": 3})
	if err == nil || !strings.Contains(err.Error(), `"count" has type int`) {
		t.Fatalf("Encode of an int: %v, want an error naming the key and type", err)
	}
}

// Sessions saved before the codec changed (scs's gob) still open, so an
// upgrade signs nobody out.
func TestSessionCodecReadsSessionsSavedWithGob(t *testing.T) {
	deadline := time.Now().Add(time.Hour).Round(0)
	in := map[string]any{sessUserID: int64(7), sessEpoch: int64(3), "next": "/inbox"}
	old, err := scs.GobCodec{}.Encode(deadline, in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(old, []byte("{")) {
		t.Fatal("a gob record begins with '{': the codec could not tell it apart")
	}
	gotDeadline, out, err := sessionCodec{}.Decode(old)
	if err != nil {
		t.Fatal(err)
	}
	if !gotDeadline.Equal(deadline) || !reflect.DeepEqual(out, in) {
		t.Errorf("decoded %v %#v, want %v %#v", gotDeadline, out, deadline, in)
	}
}
