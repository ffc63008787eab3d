package delivery

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for what a recipient's domain publishes (the _mta-sts TXT
// record and the policy file, both under its owner's control) and for the
// domains people type. Seeds live in testdata/fuzz/<target> plus the f.Add
// calls.

// FuzzParseMTASTSRecord: a record is STS exactly when its first field is
// v=STSv1; an accepted id is 1 to 32 ASCII letters and digits and is one of
// the record's id= fields; a refusal carries no id; and a record written
// from an accepted id reads back as that id.
func FuzzParseMTASTSRecord(f *testing.F) {
	for _, s := range []string{
		"v=STSv1; id=20160831085700Z;",
		"v=STSv1;id=abc",
		"v=spf1 -all",
		"v=STSv1; id=",
		"v=STSv1; id=has-dash",
		"v=STSv1; id=" + strings.Repeat("a", 33),
		" v=STSv1 ; id=first; id=second",
		"",
	} {
		f.Add(s)
	}
	alnum := regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)
	f.Fuzz(func(t *testing.T, txt string) {
		id, ok, err := parseMTASTSRecord(txt)
		first, _, _ := strings.Cut(txt, ";")
		if isSTS := strings.TrimSpace(first) == "v=STSv1"; ok != isSTS {
			t.Fatalf("parseMTASTSRecord(%q): STS %v, want %v", txt, ok, isSTS)
		}
		switch {
		case !ok && (id != "" || err != nil):
			t.Fatalf("parseMTASTSRecord(%q) = %q, false, %v: not STS but answered", txt, id, err)
		case err != nil && id != "":
			t.Fatalf("parseMTASTSRecord(%q) = %q with error %v", txt, id, err)
		case ok && err == nil && !alnum.MatchString(id):
			t.Fatalf("parseMTASTSRecord(%q) accepted id %q", txt, id)
		}
		if !ok || err != nil {
			return
		}
		found := false
		for _, fld := range strings.Split(txt, ";")[1:] {
			found = found || strings.TrimSpace(fld) == "id="+id
		}
		if !found {
			t.Fatalf("parseMTASTSRecord(%q) = %q: not an id= field of the record", txt, id)
		}
		if again, ok, err := parseMTASTSRecord("v=STSv1; id=" + id + ";"); again != id || !ok || err != nil {
			t.Fatalf("id %q written back reads as %q, %v, %v", id, again, ok, err)
		}
	})
}

// FuzzParseMTASTSPolicy: an accepted policy has version STSv1, a known
// mode, a max_age from 0 to one year in whole seconds, at least one mx
// unless the mode is none, and mx patterns in lower case; each exact
// pattern allows its own host (any ASCII case, trailing dot or not), each
// "*.parent" one more label on parent; and the policy written back out
// (with CRLF line ends) parses to the same policy.
func FuzzParseMTASTSPolicy(f *testing.F) {
	for _, s := range []string{
		"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n",
		"version: STSv1\r\nmode: testing\r\nmx: MX.Example.COM.\r\nmax_age: 86400\r\n",
		"version: STSv1\nmode: none\nmax_age: 99999999999\n",
		"version: STSv1\nmode: none\nmax_age: 9999999999\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a\nmax_age: -1\n",
		"version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a\nmax_age: 1\nextension: ignored\n\n",
		"no colon here",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		p, err := parseMTASTSPolicy(body)
		if err != nil {
			return
		}
		switch {
		case p.Mode != MTASTSEnforce && p.Mode != MTASTSTesting && p.Mode != MTASTSNone:
			t.Fatalf("parseMTASTSPolicy(%q): mode %q", body, p.Mode)
		case p.MaxAge < 0 || p.MaxAge > maxMTASTSAge || p.MaxAge%time.Second != 0:
			t.Fatalf("parseMTASTSPolicy(%q): max_age %v", body, p.MaxAge)
		case len(p.MX) == 0 && p.Mode != MTASTSNone:
			t.Fatalf("parseMTASTSPolicy(%q): mode %s with no mx", body, p.Mode)
		case p.ID != "" || !p.FetchedAt.IsZero():
			t.Fatalf("parseMTASTSPolicy(%q): id or fetch time set by the body", body)
		}
		for _, mx := range p.MX {
			if strings.ToLower(mx) != mx {
				t.Fatalf("parseMTASTSPolicy(%q): mx %q not in lower case", body, mx)
			}
			if rest, wild := strings.CutPrefix(mx, "*."); wild {
				if host := "mx0." + rest; rest != "" && !strings.HasSuffix(rest, ".") && !p.AllowsMX(host) {
					t.Fatalf("policy mx %q does not allow %q", mx, host)
				}
				continue
			}
			if mx == "" || strings.HasSuffix(mx, ".") {
				continue // from "mx:" or "mx: host..": matches no real host
			}
			for _, host := range []string{mx, mx + ".", upperASCII(mx)} {
				if !p.AllowsMX(host) {
					t.Fatalf("policy mx %q does not allow %q", mx, host)
				}
			}
		}
		// Written back out, the policy reads the same. Each mx is written
		// with a dot after it, the one the parser takes off.
		var out strings.Builder
		out.WriteString("version: STSv1\r\nmode: " + p.Mode + "\r\n")
		for _, mx := range p.MX {
			out.WriteString("mx: " + mx + ".\r\n")
		}
		out.WriteString("max_age: " + strconv.FormatInt(int64(p.MaxAge/time.Second), 10) + "\r\n")
		again, err := parseMTASTSPolicy(out.String())
		if err != nil || again.Mode != p.Mode || again.MaxAge != p.MaxAge || strings.Join(again.MX, "\n") != strings.Join(p.MX, "\n") {
			t.Fatalf("parseMTASTSPolicy(%q) = %+v; written back as %q it reads %+v, %v", body, p, out.String(), again, err)
		}
	})
}

func upperASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// FuzzNormalizeDomain: an accepted domain comes back as a lower-case
// ASCII host name of at least two labels (each 1 to 63 letters, digits and
// inner hyphens), at most 253 bytes, without a trailing dot; normalising it
// again changes nothing; the ASCII letter case of the input does not matter;
// and for ASCII input the decision is exactly that grammar's.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{
		"clinic.example",
		" Clinic.Example. ",
		"xn--bcher-kva.example",
		"localhost",
		"-bad.example",
		"a..example",
		"under_score.example",
		strings.Repeat("a", 63) + ".example",
		strings.Repeat("a", 64) + ".example",
		"dr@clinic.example",
		"exampl\u212a.com",
	} {
		f.Add(s)
	}
	label := `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`
	grammar := regexp.MustCompile(`^` + label + `(\.` + label + `)+$`)
	f.Fuzz(func(t *testing.T, domain string) {
		d, err := NormalizeDomain(domain)
		if err != nil {
			if d != "" {
				t.Fatalf("NormalizeDomain(%q) = %q with error %v", domain, d, err)
			}
		} else {
			if !grammar.MatchString(d) || len(d) > 253 {
				t.Fatalf("NormalizeDomain(%q) = %q: not a lower-case host name", domain, d)
			}
			if again, err := NormalizeDomain(d); again != d || err != nil {
				t.Fatalf("NormalizeDomain(%q) = %q, then %q, %v", domain, d, again, err)
			}
		}
		if d2, err2 := NormalizeDomain(upperASCII(domain)); d2 != d || (err2 == nil) != (err == nil) {
			t.Fatalf("NormalizeDomain(%q) = %q, %v but NormalizeDomain(%q) = %q, %v", domain, d, err, upperASCII(domain), d2, err2)
		}
		if isASCII(domain) {
			trimmed := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
			if want := grammar.MatchString(trimmed) && len(trimmed) <= 253; want != (err == nil) {
				t.Fatalf("NormalizeDomain(%q) = %q, %v; want accepted %v", domain, d, err, want)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
