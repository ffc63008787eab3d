package accounts

import (
	"strings"
	"testing"
	"time"
)

// rfcSecret is RFC 6238's SHA-1 test key ("12345678901234567890") in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// The codes are RFC 6238's own test vectors (Appendix B), cut to six digits
// as the apps show them.
func TestTOTPCodesMatchRFC6238(t *testing.T) {
	for at, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		got, err := TOTPCode(rfcSecret, time.Unix(at, 0))
		if err != nil || got != want {
			t.Errorf("code at %d: %q, %v; want %q", at, got, err, want)
		}
	}
}

func TestCodesMatchWithinOneStepOfDriftAndNoFurther(t *testing.T) {
	now := time.Unix(1111111109, 0)
	cur := totpStep(now)
	codeAt := func(step int64) string {
		c, err := TOTPCode(rfcSecret, time.Unix(step*totpPeriod, 0))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		step int64
		want codeMatch
	}{
		{cur, codeCurrent}, {cur - 1, codeCurrent}, {cur + 1, codeCurrent},
		{cur - 2, codeStale}, {cur - totpStale, codeStale},
		{cur + 2, codeWrong}, {cur - totpStale - 1, codeWrong},
	} {
		got, step := matchTOTP(rfcSecret, codeAt(tc.step), now)
		if got != tc.want {
			t.Errorf("code of step %+d: match %d, want %d", tc.step-cur, got, tc.want)
		}
		if got != codeWrong && step != tc.step {
			t.Errorf("code of step %+d matched step %+d", tc.step-cur, step-cur)
		}
	}
}

func TestCodesAreReadAsPeopleTypeThem(t *testing.T) {
	shown, hashes := newRecoveryCodes()
	if len(shown) != 10 || len(hashes) != 10 {
		t.Fatalf("%d codes, %d hashes", len(shown), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range shown {
		if seen[c] || len(c) != 19 || strings.Count(c, "-") != 3 {
			t.Errorf("code %q: duplicate or not xxxx-xxxx-xxxx-xxxx", c)
		}
		seen[c] = true
		typed := " " + strings.ToUpper(strings.ReplaceAll(c, "-", " ")) + " "
		n, kind := normaliseCode(typed)
		if kind != codeRecovery || string(recoveryHash(n)) != string(hashes[i]) {
			t.Errorf("recovery code %q typed as %q not recognised", c, typed)
		}
	}
	for in, want := range map[string]codeKind{"123 456": codeTOTP, "123-456": codeTOTP, "12345": codeUnreadable, "1234567": codeUnreadable,
		"12a456": codeUnreadable, "": codeUnreadable, "' OR 1=1 --": codeUnreadable, "abcdabcdabcdabc1": codeUnreadable} {
		if _, kind := normaliseCode(in); kind != want {
			t.Errorf("%q read as %d, want %d", in, kind, want)
		}
	}
	if !wellFormedSecret(rfcSecret) || wellFormedSecret("JBSWY3DP") || wellFormedSecret(rfcSecret+"=") || wellFormedSecret("") {
		t.Error("wellFormedSecret accepts or refuses the wrong keys")
	}
}

// Whatever is typed in the code field is read without panicking, and only
// a code of the right shape goes on to be checked.
func FuzzCodesTyped(f *testing.F) {
	for _, s := range []string{"123456", " 123 456 ", "abcd-efgh-ijkl-mnop", "ABCD EFGH IJKL MNOP", "", "٣٣٣٣٣٣", "12345６", "\x00\xff"} {
		f.Add(s)
	}
	now := time.Unix(1111111109, 0)
	f.Fuzz(func(t *testing.T, typed string) {
		code, kind := normaliseCode(typed)
		switch kind {
		case codeTOTP:
			if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
				t.Fatalf("%q read as the app code %q", typed, code)
			}
			matchTOTP(rfcSecret, code, now)
		case codeRecovery:
			if _, err := recoveryEncoding.DecodeString(code); err != nil || len(code) != recoveryCodeLen {
				t.Fatalf("%q read as the recovery code %q", typed, code)
			}
		}
	})
}
