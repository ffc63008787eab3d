package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

const notText = "That contains characters that are not valid text. Please retype it."

// fieldError is the error shown beside the form field name, "" for none.
func fieldError(t *testing.T, body, name string) string {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc.Find("#field-" + name + "-error").Text()
}

// Bytes that are not UTF-8, and NUL, never reach the domain or PostgreSQL
// (which answered them with a 500, and compose's "to" with an account for
// an address holding U+FFFD): every form field and query parameter answers
// 422 with words the user can act on, beside the field when the page shows
// it, and nothing is stored.
func TestValuesThatAreNotTextAreRefusedBesideTheirField(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.provider("dr@clinic.example")
	staff := s.signedIn("rep@plan.example")
	provider := s.signedIn("dr@clinic.example")
	_, admin := s.admin("admin@plan.example")
	anonymous := s.browser()
	link := s.invite("new.dr@clinic.example", "")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Labs"}, "body": {"Results attached."}})
	must(t, "a thread to reply to", p.Status == http.StatusSeeOther)
	reply := "/threads/" + threadID(t, p.Location) + "/reply"

	stored := func() (n int64) {
		err := s.app.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM users WHERE status <> 'pending' OR display_name <> '')
			+ (SELECT count(*) FROM threads) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM teams)
			+ (SELECT count(*) FROM audit_events WHERE action = 'audit.exported')`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := stored()

	cases := []struct {
		name  string
		send  func() page
		field string // where the words stand; "" for a page of their own
	}{
		{"sign-in email", func() page { return anonymous.login("dr\xff@clinic.example", goodPassword) }, "email"},
		{"forgot-password email", func() page {
			return anonymous.post("/forgot-password", url.Values{"email": {"dr\x00@clinic.example"}})
		}, "email"},
		{"registration name", func() page { return anonymous.register(link, "Dr. \xffLopez", goodPassword) }, "name"},
		{"sign-in's hidden next", func() page {
			return anonymous.post("/login", url.Values{"email": {"dr@clinic.example"}, "password": {goodPassword}, "next": {"/inbox\xc3"}})
		}, ""},
		{"team name", func() page {
			return admin.post("/admin/teams", url.Values{"name": {"LA \xfe"}, "line_of_business": {"Medi-Cal"}})
		}, "name"},
		{"new staff name", func() page {
			return admin.post("/admin/staff", url.Values{"email": {"new.rep@plan.example"}, "name": {"New\x00Rep"}, "role": {"staff"}})
		}, "name"},
		{"compose to", func() page {
			return staff.postMessage("/staff/compose", url.Values{"to": {"n\xffewdoc@clinic.example"}, "subject": {"S"}, "body": {"B"}})
		}, "to"},
		{"compose body", func() page {
			return staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"S"}, "body": {"B\x00"}})
		}, "body"},
		{"reply body", func() page { return provider.postMessage(reply, url.Values{"body": {"\xe2\x82"}}) }, "body"},
		{"user search", func() page { return admin.get("/admin/users?q=%FF") }, ""},
		{"audit filter", func() page { return admin.get("/admin/audit?actor=%FF&action=login") }, ""},
		{"audit export", func() page { return admin.get("/admin/audit.csv?subject=a%00b") }, ""},
		{"TLS check domain", func() page { return anonymous.get("/tls-check?domain=clinic%FF.example") }, "domain"},
		{"staff inbox cursor", func() page { return staff.get("/staff?before=%FF") }, ""},
		{"provider inbox cursor", func() page { return provider.get("/inbox?before=%00") }, ""},
	}
	for _, tc := range cases {
		p := tc.send()
		if p.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", tc.name, p.Status)
		}
		contains(t, tc.name, p.Body, notText)
		if tc.field != "" && !strings.Contains(fieldError(t, p.Body, tc.field), notText) {
			t.Errorf("%s: the words are not beside the field %q", tc.name, tc.field)
		}
		if strings.Contains(p.Body, "\xff") || strings.Contains(p.Body, "\x00") {
			t.Errorf("%s: the bytes were shown again", tc.name)
		}
	}
	if after := stored(); after != before {
		t.Errorf("something was stored: %d rows before, %d after", before, after)
	}
	logs := s.logs.String()
	for _, leak := range []string{"invalid byte sequence", `"msg":"internal error"`} {
		if strings.Contains(logs, leak) {
			t.Errorf("log holds %q", leak)
		}
	}

	// Text with every kind of character still goes through.
	p = staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Résumé 检查 🩺"}, "body": {"Ünïcödé\ttext\r\nand more"}})
	must(t, fmt.Sprintf("text of any script is accepted: %d", p.Status), p.Status == http.StatusSeeOther)
}
