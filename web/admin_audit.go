package web

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/pages"
)

// The audit log viewer and its CSV export.

// auditFilter reads the viewer's filters; a malformed date is reported, not
// ignored, so an export never silently covers more than was asked.
func (s *Server) auditFilter(q url.Values) (audit.Filter, string) {
	f := audit.Filter{ActorEmail: strings.ToLower(strings.TrimSpace(q.Get("actor"))), SubjectEmail: strings.ToLower(strings.TrimSpace(q.Get("subject"))),
		Action: strings.TrimSpace(q.Get("action")), ThreadID: strings.TrimSpace(q.Get("thread")), Limit: 50}
	if f.ThreadID != "" && !messaging.ValidID(f.ThreadID) {
		return f, "A thread id looks like 3f2a9c1b-0d4e-4c55-9a61-7b2e8f0c1d2e."
	}
	for _, d := range []struct {
		key string
		to  *time.Time
		add time.Duration
	}{{"from", &f.From, 0}, {"to", &f.To, 24 * time.Hour}} {
		if v := q.Get(d.key); v != "" {
			t, err := time.ParseInLocation("2006-01-02", v, s.cfg.Location)
			if err != nil {
				return f, "Dates look like 2026-03-04."
			}
			*d.to = t.Add(d.add)
		}
	}
	if b, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil {
		f.Before = b
	}
	return f, ""
}

func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, problem := s.auditFilter(q)
	if len(queryProblems(r)) > 0 {
		problem = notTextMessage // the filter form shows one problem for all its fields
	}
	v := pages.AdminAuditView{Chrome: s.chrome(r), Actor: q.Get("actor"), Subject: q.Get("subject"), Action: q.Get("action"),
		Thread: q.Get("thread"), From: q.Get("from"), To: q.Get("to"), Problem: problem}
	csvQuery := url.Values{}
	for _, k := range []string{"actor", "subject", "action", "thread", "from", "to"} {
		if q.Get(k) != "" {
			csvQuery.Set(k, q.Get(k))
		}
	}
	v.CSVURL = "/admin/audit.csv?" + csvQuery.Encode()
	if problem == "" {
		entries, err := s.audit.List(r.Context(), f)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		for _, e := range entries {
			at, _ := s.formatTime(r.Context(), e.At)
			v.Entries = append(v.Entries, pages.AuditRow{ID: strconv.FormatInt(e.ID, 10), At: at, Actor: firstNonEmpty(e.ActorEmail, "—"),
				Action: e.Action, Target: auditTarget(e), IP: e.IP, Detail: e.Detail, Highlight: e.Action == string(audit.EmergencyAccess)})
		}
		if len(entries) == f.Limit {
			next := url.Values{"before": {strconv.FormatInt(entries[len(entries)-1].ID, 10)}}
			for k, vs := range csvQuery {
				next[k] = vs
			}
			v.NextURL = "/admin/audit?" + next.Encode()
		}
	}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, status, pages.AdminAudit(v))
}

func auditTarget(e audit.Entry) string {
	switch {
	case e.TargetEmail != "":
		return e.TargetEmail
	case e.TargetType != "":
		return e.TargetType + " " + e.TargetID
	}
	return ""
}

// adminAuditCSV streams the matching events as CSV, row by row: a range of
// any size never sits in memory.
func (s *Server) adminAuditCSV(w http.ResponseWriter, r *http.Request) {
	f, problem := s.auditFilter(r.URL.Query())
	if problem != "" {
		s.renderMessage(w, r, http.StatusUnprocessableEntity, "Check the filters", problem)
		return
	}
	// Who took a copy of the audit trail, and of what, is itself audited.
	me, _ := currentUser(r.Context())
	q := r.URL.Query()
	err := s.accounts.RecordAdminEvent(r.Context(), audit.Event{ActorID: me.ID, Action: audit.AuditExported, TargetType: "audit_log",
		IP: ClientIP(r.Context()).String(), Detail: map[string]any{"actor": q.Get("actor"), "subject": q.Get("subject"), "action": q.Get("action"),
			"thread": q.Get("thread"), "from": q.Get("from"), "to": q.Get("to")}})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "at_utc", "actor_id", "actor_email", "action", "target_type", "target_id", "target_email", "ip", "detail"})
	n := 0
	err = s.audit.Export(r.Context(), f, func(e audit.Entry) error {
		n++
		cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), strconv.FormatInt(e.ActorID, 10), spreadsheetSafe(e.ActorEmail),
			spreadsheetSafe(e.Action), spreadsheetSafe(e.TargetType), spreadsheetSafe(e.TargetID), spreadsheetSafe(e.TargetEmail), spreadsheetSafe(e.IP), spreadsheetSafe(e.Detail)})
		if n%500 == 0 {
			cw.Flush()
			return cw.Error()
		}
		return nil
	})
	cw.Flush()
	if err != nil {
		s.log.ErrorContext(r.Context(), "audit export failed", "request_id", RequestID(r.Context()), "rows", n, "err", err)
		panic(http.ErrAbortHandler) // a truncated export must not look complete
	}
	s.log.InfoContext(r.Context(), "audit exported", "request_id", RequestID(r.Context()), "admin_id", me.ID, "rows", n)
}

// spreadsheetSafe defuses CSV formula injection: a spreadsheet runs a cell
// that starts with = + - @ (or a tab or carriage return before one) as a
// formula, and "=cmd|' /c calc'!A1@x.example" is a valid email address that
// anyone can type on the sign-in page. A leading apostrophe makes the
// spreadsheet show the text as typed (OWASP's advice for CSV exports).
func spreadsheetSafe(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}
