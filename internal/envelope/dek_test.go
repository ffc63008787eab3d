package envelope

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestNewDEKIsRandomAndFullSize(t *testing.T) {
	a, err := NewDEK()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDEK()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Bytes()) != DEKSize || bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("NewDEK must return distinct 32-byte keys")
	}
}

func TestDEKNeverPrintsKeyMaterial(t *testing.T) {
	d := testDEK(t)
	keyHex := hex.EncodeToString(d.Bytes())
	type holder struct {
		Exported DEK
		hidden   DEK
	}
	h := holder{Exported: d, hidden: d}

	var outputs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		outputs = append(outputs, fmt.Sprintf(f, d), fmt.Sprintf(f, h), fmt.Sprintf(f, &h))
	}
	outputs = append(outputs, fmt.Sprint(d), fmt.Sprintln(d), d.String(), d.GoString())

	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "dek", d)
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "dek", d, "holder", h)
	outputs = append(outputs, logBuf.String())

	for _, out := range outputs {
		if strings.Contains(strings.ToLower(out), keyHex[:16]) || strings.Contains(out, "[0 1 2 3") ||
			strings.Contains(out, "0 1 2 3 4") {
			t.Fatalf("key material leaked: %q", out)
		}
	}
	if got := fmt.Sprintf("%v", d); got != "[REDACTED]" {
		t.Fatalf("got %q", got)
	}
}

func TestDEKRefusesSerialization(t *testing.T) {
	if _, err := json.Marshal(testDEK(t)); err == nil {
		t.Fatal("json.Marshal of a DEK must fail")
	}
}

func TestZeroDEKIsRejected(t *testing.T) {
	var zero DEK
	if zero.Valid() {
		t.Fatal("zero DEK must be invalid")
	}
	if _, err := Seal(zero, testBinding, nil); err == nil {
		t.Fatal("Seal accepted zero DEK")
	}
	if _, err := Open(zero, testBinding, make([]byte, 100)); err == nil {
		t.Fatal("Open accepted zero DEK")
	}
	if _, err := NewStreamWriter(&bytes.Buffer{}, zero, testBinding); err == nil {
		t.Fatal("NewStreamWriter accepted zero DEK")
	}
	if _, err := DEKFromBytes(make([]byte, 31)); err == nil {
		t.Fatal("DEKFromBytes accepted 31 bytes")
	}
}
