package password

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func policyErr(t *testing.T, err error) *PolicyError {
	t.Helper()
	var pe *PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *PolicyError", err, err)
	}
	if pe.Reason == "" {
		t.Fatal("PolicyError without Reason")
	}
	return pe
}

func TestCheckRefusesShort(t *testing.T) {
	cases := map[string]int{
		"":               0,
		"Xk9#mQ2$":       8,
		"Tr0ub4dor&3":    11,
		"vR7!kq2Lz$8wPm": 14,
		"日本語のパスワードです":    11, // code points, not bytes (33 bytes)
		"🔒🔑🛡️🏥":          5,  // emoji are code points too (U+FE0F counts)
	}
	for pw, n := range cases {
		pe := policyErr(t, Check(pw))
		if pe.Violation != ViolationTooShort {
			t.Errorf("len %d: violation %q, want too_short", n, pe.Violation)
		}
		want := "Use at least 15 characters (you typed " + strconv.Itoa(n) + ")."
		if pe.Reason != want {
			t.Errorf("reason = %q, want %q", pe.Reason, want)
		}
	}
	// 15 code points of multi-byte text is long enough.
	if err := Check("ñandú güeña kiwi"); err != nil && policyErr(t, err).Violation == ViolationTooShort {
		t.Errorf("16 code points refused as short: %v", err)
	}
}

func TestCheckRefusesTooLong(t *testing.T) {
	for _, pw := range []string{
		strings.Repeat("quiet river ", 30)[:MaxLength+1],
		strings.Repeat("é", MaxLength+1),
		strings.Repeat("x", 10<<20),
	} {
		pe := policyErr(t, Check(pw))
		if pe.Violation != ViolationTooLong || pe.Reason != "Passwords can be at most 256 characters." {
			t.Errorf("len %d: %v", len(pw), pe)
		}
	}
	if pe := policyErr(t, Check("valid prefix \xff\xfe then garbage bytes")); pe.Violation != ViolationInvalidEncoding {
		t.Errorf("invalid UTF-8: %v", pe)
	}
}

func TestCheckRefusesCommon(t *testing.T) {
	for _, pw := range []string{
		"password123456789",
		"qwertyuiopasdfgh",
		"Password123456789!",
		"Welcome123456789!",
		"P@ssw0rd12345678",
		"1qaz2wsx3edc4rfv", // verbatim entry of the breached list
		"1qaz-2wsx-3edc-4rfv",
		"123456789987654321",
		"iloveyouiloveyou",
		"aaaaaaaaaaaaaaaa",
		"abcdefghijklmnopqrs",
		"123456789012345",
		"zxcvbnmasdfghjkl",
		"drowssapdrowssap", // reversed
	} {
		err := Check(pw)
		if err == nil {
			t.Errorf("accepted common/pattern password %q", pw)
			continue
		}
		switch v := policyErr(t, err).Violation; v {
		case ViolationCommon, ViolationPattern, ViolationGuessable:
		default:
			t.Errorf("%q: violation %q", pw, v)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error leaks password: %v", err)
		}
	}
	if pe := policyErr(t, Check("password123456789")); pe.Reason != "This password appears in lists of commonly used passwords." {
		t.Errorf("reason = %q", pe.Reason)
	}
}

func TestCheckRefusesContextWords(t *testing.T) {
	ctx := []string{"HealthNet Clinics", "jane.doe@healthnet.example", "Jane Doe-Smith"}
	for _, pw := range []string{
		"my healthnet login is great", // org word
		"HEALTH-NET stays secure 4ever",
		"Clinics are where i work daily", // second org word
		"jane.doe@healthnet.example!",    // whole email
		"janedoe loves mountain rivers",  // email local part, separator-folded
		"purple smith elephant castle",   // display-name word
	} {
		pe := policyErr(t, Check(pw, ctx...))
		if pe.Violation != ViolationContextWord {
			t.Errorf("%q: violation %q, want context_word", pw, pe.Violation)
		}
		if pe.Reason != reasonContextWord {
			t.Errorf("reason = %q", pe.Reason)
		}
	}
	// Short context tokens ("doe", "jane" is 4 → checked) must not refuse
	// unrelated passwords merely containing "doe".
	if err := Check("a doe crossed thirty frozen lakes", ctx...); err != nil {
		t.Errorf("refused unrelated passphrase: %v", err)
	}
	// Without context the same passphrase is fine.
	if err := Check("my healthnet login is great"); err != nil {
		t.Errorf("refused without context: %v", err)
	}
}

func TestCheckAcceptsPassphrase(t *testing.T) {
	for _, pw := range []string{
		"correct horse battery staple",
		"blue coffee mountain river",
		"mary had a little lamb",
		"Ünïcödé pässphräse wörks tóo",
		"love1987453629184", // common stem + unpredictable digits: zxcvbn prices it
		strings.Repeat("quiet river stone ", 15)[:MaxLength],
	} {
		if err := Check(pw, "HealthNet", "jane@healthnet.example"); err != nil {
			t.Errorf("refused good passphrase (len %d): %v", len(pw), err)
		}
	}
}

func TestStrength(t *testing.T) {
	weak := Strength("password")
	if weak.Score > 1 || weak.Label != scoreLabels[weak.Score] || weak.Reason == "" {
		t.Errorf("Strength(password) = %+v", weak)
	}
	strong := Strength("correct horse battery staple")
	if strong.Score != 4 || strong.Label != "very strong" || strong.CrackTime == "" || strong.Reason != "" {
		t.Errorf("Strength(passphrase) = %+v", strong)
	}
	// Context lowers the score for the user's own name.
	if h := Strength("janedoejanedoe99", "Jane Doe"); h.Score > 2 {
		t.Errorf("name-based password scored %+v", h)
	}
	if h := Strength(""); h.Score != 0 || h.Label != "very weak" {
		t.Errorf("Strength(\"\") = %+v", h)
	}
	for secs, want := range map[float64]string{0.5: "less than a second", 1: "1 second", 7200: "2 hours", 1e12: "centuries"} {
		if got := displayTime(secs); got != want {
			t.Errorf("displayTime(%v) = %q, want %q", secs, got, want)
		}
	}
}

// Check must stay cheap even for maximum-length input (it runs on every
// keystroke-driven strength request and every signup).
func TestCheckMaxLengthIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	pw := strings.Repeat("x7Q!kd93Lm", 26)[:MaxLength]
	start := time.Now()
	_ = Check(pw)
	if d := time.Since(start); d > 2*time.Second { // generous for -race on CI
		t.Errorf("Check(256 chars) took %v", d)
	}
}
