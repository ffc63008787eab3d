package envelope

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"testing"
)

func cryptoRand() io.Reader { return rand.Reader }

// Known answer: pins the canonical AAD encoding. Changing it makes every
// stored ciphertext undecryptable, so this test must never be "updated".
func TestBindingAADKnownAnswer(t *testing.T) {
	const want = "00000013736563757265706f7274616c2f6161642f7631" + // len+"secureportal/aad/v1"
		"0000000c6d6573736167652d626f6479" + // "message-body"
		"000000086d65737361676573" + // "messages"
		"00000007626f64795f6374" + // "body_ct"
		"000000086d73672d30303031" + // "msg-0001"
		"000000087468722d30303031" // "thr-0001"
	if got := hex.EncodeToString(testBinding.AAD()); got != want {
		t.Fatalf("AAD encoding drifted:\n got %s\nwant %s", got, want)
	}
}

func TestWrapAADKnownAnswer(t *testing.T) {
	const want = "00000018736563757265706f7274616c2f777261702d6161642f7631" +
		"00000004646b2d31" + "0000000770617469656e74" + "00000004702d3432"
	if got := hex.EncodeToString(WrapAAD("dk-1", "patient", "p-42")); got != want {
		t.Fatalf("wrap AAD encoding drifted:\n got %s\nwant %s", got, want)
	}
}

func TestBindingAADIsInjectiveAcrossFieldBoundaries(t *testing.T) {
	a := Binding{Purpose: "p", Table: "ab", Column: "c", RowID: "r"}
	b := Binding{Purpose: "p", Table: "a", Column: "bc", RowID: "r"}
	if bytes.Equal(a.AAD(), b.AAD()) {
		t.Fatal("shifting bytes between fields must change the encoding")
	}
	if bytes.Equal(WrapAAD("x", "y", "z"), encodeFields(nil, bindingAADLabel, "x", "y", "z")) {
		t.Fatal("wrap AAD and binding AAD must be domain separated")
	}
}

func TestBindingRequiresPlaceFields(t *testing.T) {
	full := testBinding
	cases := map[string]func(*Binding){
		"purpose": func(b *Binding) { b.Purpose = "" },
		"table":   func(b *Binding) { b.Table = "" },
		"column":  func(b *Binding) { b.Column = "" },
		"row":     func(b *Binding) { b.RowID = "" },
		"too long": func(b *Binding) {
			b.ThreadID = strings.Repeat("x", MaxBindingFieldLen+1)
		},
	}
	for name, mutate := range cases {
		b := full
		mutate(&b)
		if _, err := Seal(testDEK(t), b, []byte("x")); err == nil {
			t.Errorf("%s: Seal accepted invalid binding", name)
		}
	}
	noThread := full
	noThread.ThreadID = ""
	if _, err := Seal(testDEK(t), noThread, []byte("x")); err != nil {
		t.Fatalf("ThreadID is optional: %v", err)
	}
}
