package delivery

import (
	"strings"
	"testing"
	"time"
)

// RFC 8461 §4.1: "*.example.com" stands for exactly one label more.
func TestMTASTSPatternsFollowTheWildcardRule(t *testing.T) {
	p := MTASTSPolicy{MX: []string{"mail.example.com", "*.example.net"}}
	tests := map[string]bool{
		"mail.example.com":   true,
		"MAIL.Example.COM.":  true,
		"other.example.com":  false,
		"mx1.example.net":    true,
		"example.net":        false,
		"a.b.example.net":    false,
		"mx1.example.net.ev": false,
	}
	for host, want := range tests {
		if got := p.AllowsMX(host); got != want {
			t.Errorf("AllowsMX(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestMTASTSRecordParsing(t *testing.T) {
	tests := []struct {
		txt   string
		id    string
		isSTS bool
		err   bool
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z", true, false},
		{"v=STSv1;id=abc", "abc", true, false},
		{"v=spf1 -all", "", false, false},
		{"v=STSv1; id=", "", true, true},
		{"v=STSv1; id=has-dash", "", true, true},
		{"v=STSv1; id=" + strings.Repeat("a", 33), "", true, true},
	}
	for _, tt := range tests {
		id, isSTS, err := parseMTASTSRecord(tt.txt)
		if id != tt.id || isSTS != tt.isSTS || (err != nil) != tt.err {
			t.Errorf("parseMTASTSRecord(%q) = %q, %v, %v; want %q, %v, error %v", tt.txt, id, isSTS, err, tt.id, tt.isSTS, tt.err)
		}
	}
}

func TestMTASTSPolicyParsing(t *testing.T) {
	good := "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\nmx: *.Example.NET.\r\nmax_age: 604800\r\nextension: ignored\r\n"
	p, err := parseMTASTSPolicy(good)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if p.Mode != MTASTSEnforce || p.MaxAge != 7*24*time.Hour || strings.Join(p.MX, ",") != "mail.example.com,*.example.net" {
		t.Errorf("parsed %+v", p)
	}
	if p, _ := parseMTASTSPolicy("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 9999999999\n"); p.MaxAge != maxMTASTSAge {
		t.Errorf("max_age above a year: %s, want capped at %s", p.MaxAge, maxMTASTSAge)
	}
	bad := map[string]string{
		"wrong version":    "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
		"unknown mode":     "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
		"no max_age":       "version: STSv1\nmode: enforce\nmx: a.example\n",
		"bad max_age":      "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
		"11-digit max_age": "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 10000000000\n",
		"enforce, no mx":   "version: STSv1\nmode: enforce\nmax_age: 1\n",
		"not key: value":   "version: STSv1\nmode enforce\n",
	}
	for name, body := range bad {
		if _, err := parseMTASTSPolicy(body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEHLOExtensionsAreReadFromTheLinesAfterTheGreeting(t *testing.T) {
	if hasExtension("mx.example greets STARTTLS\nPIPELINING\n8BITMIME", "STARTTLS") {
		t.Error("STARTTLS in the greeting line counted as an extension")
	}
	if !hasExtension("mx.example\nPIPELINING\nstarttls", "STARTTLS") {
		t.Error("lower-case starttls not recognised")
	}
}
