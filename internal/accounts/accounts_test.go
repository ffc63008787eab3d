package accounts

import "testing"

func TestSafeNextAllowsOnlyLocalPaths(t *testing.T) {
	cases := map[string]string{
		"/threads/42":            "/threads/42",
		"/inbox?page=2":          "/inbox?page=2",
		"":                       "",
		"//evil.example":         "",
		"/\\evil.example":        "",
		"https://evil.example/x": "",
		"javascript:alert(1)":    "",
		"threads/42":             "",
		"/ok\r\nSet-Cookie: x=1": "",
		"/tab\tinside":           "",
	}
	for in, want := range cases {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	ok := map[string]string{
		"  Dr.Lopez@Clinic.Example ": "dr.lopez@clinic.example",
		"a+tag@sub.example.org":      "a+tag@sub.example.org",
	}
	for in, want := range ok {
		if got, msg := NormalizeEmail(in); got != want || msg != "" {
			t.Errorf("NormalizeEmail(%q) = %q, %q", in, got, msg)
		}
	}
	for _, bad := range []string{"", "plain", "a@b", "Name <a@b.example>", "a@b.example.", "@b.example", "a b@c.example"} {
		if got, msg := NormalizeEmail(bad); msg == "" {
			t.Errorf("NormalizeEmail(%q) accepted as %q", bad, got)
		}
	}
}

func TestTokensAre256BitAndStoredOnlyAsHash(t *testing.T) {
	raw, sum := newToken()
	if len(raw) != 43 || len(sum) != 32 {
		t.Fatalf("token %d chars, hash %d bytes", len(raw), len(sum))
	}
	again, ok := hashToken(raw)
	if !ok || string(again) != string(sum) {
		t.Error("hashToken does not match newToken's hash")
	}
	other, _ := newToken()
	if other == raw {
		t.Error("two tokens alike")
	}
	for _, bad := range []string{"", raw[:42], raw + "A", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"} {
		if _, ok := hashToken(bad); ok {
			t.Errorf("hashToken accepted %q", bad)
		}
	}
}
