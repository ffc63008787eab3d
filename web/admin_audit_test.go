package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
)

func TestAuditViewerFiltersAndExportsCSV(t *testing.T) {
	s := newSite(t, nil)
	_, ab := s.admin("admin@plan.example")
	s.provider("dr@clinic.example")
	b := s.browser()
	b.login("dr@clinic.example", "wrong password entirely")
	b.login("dr@clinic.example", goodPassword)

	p := ab.get("/admin/audit?" + url.Values{"subject": {"dr@clinic.example"}, "action": {"login."}}.Encode())
	must(t, "audit viewer", p.Status == http.StatusOK)
	contains(t, "filtered audit", p.Body, "login.failed", "login.succeeded", "dr@clinic.example")
	must(t, "filter excludes other actions", !strings.Contains(p.Body, "user.created"))

	p = ab.get("/admin/audit.csv?" + url.Values{"subject": {"dr@clinic.example"}}.Encode())
	must(t, "csv download", p.Status == http.StatusOK && strings.HasPrefix(p.Header.Get("Content-Type"), "text/csv") &&
		strings.Contains(p.Header.Get("Content-Disposition"), "attachment"))
	lines := strings.Split(strings.TrimSpace(p.Body), "\n")
	must(t, "csv header and rows", strings.HasPrefix(lines[0], "id,at_utc,actor_id") && len(lines) >= 4)
	var exported int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = 'admin.audit_exported' AND detail->>'subject' = 'dr@clinic.example'`).Scan(&exported)
	must(t, "the export itself is audited", exported == 1)
	today := time.Now().Format("2006-01-02")
	p = ab.get("/admin/audit?from=" + today + "&to=" + today)
	contains(t, "date range", p.Body, "login.failed")
	p = ab.get("/admin/audit?from=yesterday")
	must(t, "bad date: 422 with a message", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Dates look like"))
}

// "=1+2@clinic.example" is a valid email address; in a spreadsheet, a cell
// that starts with "=" is a formula. The security officer opening the audit
// export must see the text, not run it.
func TestAuditExportDefusesSpreadsheetFormulas(t *testing.T) {
	s := newSite(t, nil)
	_, ab := s.admin("admin@plan.example")
	const formula = "=1+2@clinic.example"
	if _, err := s.app.Accounts.CreateUser(context.Background(), formula, "Formula", accounts.RoleProvider, goodPassword, 0, ""); err != nil {
		t.Fatal(err)
	}
	s.browser().login(formula, "wrong password entirely")
	p := ab.get("/admin/audit.csv?" + url.Values{"subject": {formula}}.Encode())
	must(t, "csv download", p.Status == http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(p.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var cells int
	for _, row := range rows {
		for _, cell := range row {
			if strings.HasPrefix(cell, "=") || strings.HasPrefix(cell, "+") || strings.HasPrefix(cell, "-") || strings.HasPrefix(cell, "@") {
				t.Errorf("cell %q would run as a spreadsheet formula", cell)
			}
			if cell == "'"+formula {
				cells++
			}
		}
	}
	must(t, "the address is exported as text", cells > 0)
}
