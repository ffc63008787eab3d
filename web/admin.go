package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/pages"
)

// sessAdminSeen is when the admin last used an admin page, in unix
// milliseconds: whole seconds would cut up to a second off a short window.
const sessAdminSeen = "admin_seen_ms"

// requireRecentAdmin asks an admin for their password again when admin
// pages have been idle longer than PORTAL_ADMIN_REAUTH: an unattended
// signed-in browser must not be enough to reset other people's accounts.
func (s *Server) requireRecentAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := s.sessions.GetInt64(r.Context(), sessAdminSeen)
		if time.Since(time.UnixMilli(seen)) > s.cfg.Accounts.AdminReauth {
			next := ""
			if r.Method == http.MethodGet {
				next = r.URL.RequestURI()
			}
			http.Redirect(w, r, "/admin/reauth?"+url.Values{"next": {next}}.Encode(), http.StatusSeeOther)
			return
		}
		s.sessions.Put(r.Context(), sessAdminSeen, time.Now().UnixMilli())
		next.ServeHTTP(w, r)
	})
}

func (s *Server) reauthView(r *http.Request, next, failure string) pages.ReauthView {
	u, _ := currentUser(r.Context())
	return pages.ReauthView{Chrome: s.chrome(r), Email: u.Email, Next: accounts.SafeNext(next), Failure: failure,
		Pass: pages.Field{Name: "password", Label: "Your password", Type: "password", Autocomplete: "current-password", Required: true}}
}

func (s *Server) reauthForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, pages.Reauth(s.reauthView(r, r.URL.Query().Get("next"), "")))
}

func (s *Server) reauth(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	u, _ := currentUser(r.Context())
	next := accounts.SafeNext(r.PostForm.Get("next"))
	// The same path as signing in: failures count toward the lockout and
	// are audited.
	_, err := s.accounts.Login(r.Context(), u.Email, r.PostForm.Get("password"), ClientIP(r.Context()).String())
	var fe accounts.FieldErrors
	switch {
	case errors.Is(err, accounts.ErrInvalidCredentials), errors.As(err, &fe):
		s.render(w, r, http.StatusUnauthorized, pages.Reauth(s.reauthView(r, next, "That password is not right.")))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), sessAdminSeen, time.Now().UnixMilli())
	http.Redirect(w, r, firstNonEmpty(next, "/admin/users"), http.StatusSeeOther)
}

func (s *Server) day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	h, _ := s.formatTime(t)
	return h
}

func options(selected string, pairs ...string) []pages.Option {
	var out []pages.Option
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, pages.Option{Value: pairs[i], Label: pairs[i+1], Selected: pairs[i] == selected})
	}
	return out
}

const usersPerPage = 50

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 0)
	f := accounts.UserFilter{Query: strings.TrimSpace(q.Get("q")), Role: accounts.Role(q.Get("role")), Status: accounts.Status(q.Get("status")),
		Limit: usersPerPage + 1, Offset: page * usersPerPage}
	users, err := s.accounts.SearchUsers(r.Context(), f)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v := pages.AdminUsersView{Chrome: s.chrome(r), Query: f.Query, Notice: q.Get("notice"),
		Roles:  options(q.Get("role"), "", "Any role", "provider", "Provider", "staff", "Staff", "admin", "Admin"),
		States: options(q.Get("status"), "", "Any status", "pending", "Pending", "active", "Active", "locked", "Locked", "disabled", "Disabled")}
	if len(users) > usersPerPage {
		users = users[:usersPerPage]
		next := url.Values{"q": {f.Query}, "role": {q.Get("role")}, "status": {q.Get("status")}, "page": {strconv.Itoa(page + 1)}}
		v.NextURL = "/admin/users?" + next.Encode()
	}
	for _, u := range users {
		v.Users = append(v.Users, pages.AdminUserRow{URL: fmt.Sprintf("/admin/users/%d", u.ID), Email: u.Email, Name: u.DisplayName,
			Role: string(u.Role), Status: string(u.Status), LastLogin: s.day(u.LastLoginAt)})
	}
	s.render(w, r, http.StatusOK, pages.AdminUsers(v))
}

// targetUser loads the user named by the {id} route parameter; it answers
// 404 itself when there is none.
func (s *Server) targetUser(w http.ResponseWriter, r *http.Request) (accounts.User, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return accounts.User{}, false
	}
	u, err := s.accounts.User(r.Context(), id)
	if errors.Is(err, accounts.ErrNotFound) {
		s.notFound(w, r)
		return accounts.User{}, false
	}
	if err != nil {
		s.serverError(w, r, err)
		return accounts.User{}, false
	}
	return u, true
}

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	s.renderAdminUser(w, r, u, http.StatusOK, r.URL.Query().Get("notice"), "")
}

func (s *Server) renderAdminUser(w http.ResponseWriter, r *http.Request, u accounts.User, status int, notice, problem string) {
	teams, err := s.messages.TeamsOf(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	base := fmt.Sprintf("/admin/users/%d", u.ID)
	v := pages.AdminUserView{Chrome: s.chrome(r), Email: u.Email, Name: u.DisplayName, Role: string(u.Role), Status: string(u.Status),
		LastLogin: s.day(u.LastLoginAt), Created: s.day(u.CreatedAt), Failed: strconv.Itoa(u.FailedLogins), Notice: notice, Problem: problem,
		AuditURL: "/admin/audit?" + url.Values{"subject": {u.Email}}.Encode()}
	if u.TemporarilyLocked(time.Now()) {
		v.LockNote = "Locked after failed sign-ins until " + s.day(u.LockedUntil)
	}
	for _, t := range teams {
		v.Teams = append(v.Teams, t.Name)
	}
	me, _ := currentUser(r.Context())
	for _, a := range accounts.AdminActions {
		if accounts.Applies(a.Action, u, time.Now()) && (u.ID != me.ID || a.Action == accounts.ActionResetLink) {
			v.Actions = append(v.Actions, pages.ActionLink{Label: a.Label, Description: a.Description,
				URL: base + "/confirm?" + url.Values{"action": {string(a.Action)}}.Encode()})
		}
	}
	if u.ID != me.ID {
		v.RoleURL = base + "/role"
		v.Roles = options(string(u.Role), "provider", "Provider", "staff", "Staff", "admin", "Admin")
	}
	s.render(w, r, status, pages.AdminUser(v))
}

func (s *Server) confirmView(r *http.Request, u accounts.User, title, description, formAction string, hidden []pages.Option, reason, reasonErr string) pages.AdminConfirmView {
	v := pages.AdminConfirmView{Chrome: s.chrome(r), Title: title, Description: description, UserEmail: u.Email, FormAction: formAction,
		Hidden: hidden, CancelURL: fmt.Sprintf("/admin/users/%d", u.ID), Danger: true,
		Reason: pages.Field{Name: "reason", Label: "Reason (kept in the audit log)", Value: reason, Error: reasonErr,
			Hint: "For example: “provider called Provider Services, identity checked by callback”."}}
	v.Problems = pages.Problems(v.Reason)
	return v
}

func actionInfo(a accounts.AdminAction) (label, description string) {
	for _, x := range accounts.AdminActions {
		if x.Action == a {
			return x.Label, x.Description
		}
	}
	return "", ""
}

// adminConfirm is the confirmation step of an account action: it names the
// action and the account and asks for the reason.
func (s *Server) adminConfirm(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	action, ok := accounts.ParseAdminAction(r.URL.Query().Get("action"))
	if !ok {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	s.render(w, r, http.StatusOK, pages.AdminConfirm(s.actionConfirmView(r, u, action, "", "")))
}

// actionConfirmView is the confirmation page of an account action, first
// shown and shown again when the reason is missing.
func (s *Server) actionConfirmView(r *http.Request, u accounts.User, action accounts.AdminAction, reason, reasonErr string) pages.AdminConfirmView {
	label, desc := actionInfo(action)
	return s.confirmView(r, u, label+"?", desc, fmt.Sprintf("/admin/users/%d/actions", u.ID),
		[]pages.Option{{Value: "action", Label: string(action)}}, reason, reasonErr)
}

// roleConfirmView is the same for a change of role.
func (s *Server) roleConfirmView(r *http.Request, u accounts.User, role accounts.Role, reason, reasonErr string) pages.AdminConfirmView {
	return s.confirmView(r, u, "Make this account "+string(role)+"?",
		"Changing the role signs the user out everywhere; their next sign-in carries the new role.",
		fmt.Sprintf("/admin/users/%d/role", u.ID), []pages.Option{{Value: "role", Label: string(role)}}, reason, reasonErr)
}

func (s *Server) adminAction(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	action, ok := accounts.ParseAdminAction(r.PostForm.Get("action"))
	if !ok {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	me, _ := currentUser(r.Context())
	reason := r.PostForm.Get("reason")
	done, err := s.accounts.Administer(r.Context(), me, u.ID, action, reason, ClientIP(r.Context()).String())
	label, _ := actionInfo(action)
	var fe accounts.FieldErrors
	switch {
	case errors.As(err, &fe):
		s.render(w, r, http.StatusUnprocessableEntity, pages.AdminConfirm(s.actionConfirmView(r, u, action, reason, fe["reason"])))
	case errors.Is(err, accounts.ErrActionNotApplicable):
		s.renderAdminUser(w, r, u, http.StatusConflict, "", "Nothing was changed: “"+label+"” does not apply to the account as it is now (it may have been done already).")
	case errors.Is(err, accounts.ErrSelfAction):
		s.renderAdminUser(w, r, u, http.StatusConflict, "", "Nothing was changed: admins cannot do that to their own account.")
	case errors.Is(err, accounts.ErrLastAdmin):
		s.renderAdminUser(w, r, u, http.StatusConflict, "", "Nothing was changed: this is the last active admin.")
	case err != nil:
		s.serverError(w, r, err)
	default:
		s.log.InfoContext(r.Context(), "admin action", "request_id", RequestID(r.Context()), "admin_id", me.ID, "user_id", done.ID, "action", action)
		http.Redirect(w, r, fmt.Sprintf("/admin/users/%d?", done.ID)+url.Values{"notice": {"Done: " + label + "."}}.Encode(), http.StatusSeeOther)
	}
}

func (s *Server) adminRoleConfirm(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	role, err := accounts.ParseRole(r.URL.Query().Get("role"))
	if err != nil {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	s.render(w, r, http.StatusOK, pages.AdminConfirm(s.roleConfirmView(r, u, role, "", "")))
}

func (s *Server) adminRole(w http.ResponseWriter, r *http.Request) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	me, _ := currentUser(r.Context())
	role := accounts.Role(r.PostForm.Get("role"))
	reason := r.PostForm.Get("reason")
	_, err := s.accounts.ChangeRole(r.Context(), me, u.ID, role, reason, ClientIP(r.Context()).String())
	var fe accounts.FieldErrors
	switch {
	case errors.As(err, &fe) && fe["role"] != "":
		s.renderError(w, r, http.StatusBadRequest) // a forged role value
	case errors.As(err, &fe):
		s.render(w, r, http.StatusUnprocessableEntity, pages.AdminConfirm(s.roleConfirmView(r, u, role, reason, fe["reason"])))
	case errors.Is(err, accounts.ErrSelfAction):
		s.renderAdminUser(w, r, u, http.StatusConflict, "", "Nothing was changed: admins cannot change their own role.")
	case errors.Is(err, accounts.ErrLastAdmin):
		s.renderAdminUser(w, r, u, http.StatusConflict, "", "Nothing was changed: this is the last active admin.")
	case err != nil:
		s.serverError(w, r, err)
	default:
		http.Redirect(w, r, fmt.Sprintf("/admin/users/%d?", u.ID)+url.Values{"notice": {"Role changed to " + string(role) + "."}}.Encode(), http.StatusSeeOther)
	}
}

func (s *Server) staffView(r *http.Request, email, name, role, team string, fe accounts.FieldErrors) (pages.AdminStaffView, error) {
	teams, err := s.messages.Teams(r.Context())
	if err != nil {
		return pages.AdminStaffView{}, err
	}
	v := pages.AdminStaffView{Chrome: s.chrome(r), Role: role, RoleErr: fe["role"],
		Email: pages.Field{Name: "email", Label: "Email address", Type: "email", Value: email, Error: fe["email"], Autocomplete: "off", Required: true},
		Name:  pages.Field{Name: "name", Label: "Name", Type: "text", Value: name, Error: fe["name"], Autocomplete: "off"},
		Teams: []pages.Option{{Value: "", Label: "No team"}}}
	for _, t := range teams {
		id := strconv.FormatInt(t.ID, 10)
		v.Teams = append(v.Teams, pages.Option{Value: id, Label: t.Name, Selected: id == team})
	}
	v.Problems = pages.Problems(v.Email, v.Name)
	return v, nil
}

func (s *Server) adminStaffForm(w http.ResponseWriter, r *http.Request) {
	v, err := s.staffView(r, "", "", "staff", "", nil)
	s.renderBuilt(w, r, http.StatusOK, pages.AdminStaff(v), err)
}

func (s *Server) adminStaffCreate(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	f := r.PostForm
	email, name, roleText, team := f.Get("email"), f.Get("name"), f.Get("role"), f.Get("team")
	me, _ := currentUser(r.Context())
	role, err := accounts.ParseRole(roleText)
	if err != nil || role == accounts.RoleProvider {
		s.renderError(w, r, http.StatusBadRequest) // the form offers staff and admin only
		return
	}
	u, err := s.accounts.CreateUser(r.Context(), email, name, role, "", me.ID, "")
	var fe accounts.FieldErrors
	switch {
	case errors.Is(err, accounts.ErrEmailTaken):
		fe = accounts.FieldErrors{"email": "An account with this email already exists."}
	case errors.As(err, &fe):
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if fe != nil {
		v, verr := s.staffView(r, email, name, roleText, team, fe)
		s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminStaff(v), verr)
		return
	}
	if teamID, err := strconv.ParseInt(team, 10, 64); err == nil && role == accounts.RoleStaff {
		if err := s.messages.SetMembership(r.Context(), s.viewer(r), teamID, u.Email, true); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/users/%d?", u.ID)+url.Values{"notice": {"Account created; the registration link is on its way."}}.Encode(), http.StatusSeeOther)
}

func (s *Server) teamsView(r *http.Request, fe accounts.FieldErrors, name, lob string) (pages.AdminTeamsView, error) {
	teams, err := s.messages.Teams(r.Context())
	if err != nil {
		return pages.AdminTeamsView{}, err
	}
	v := pages.AdminTeamsView{Chrome: s.chrome(r), Notice: r.URL.Query().Get("notice"),
		Name: pages.Field{Name: "name", Label: "Team name", Type: "text", Value: name, Error: fe["name"], Hint: "For example “Provider Services – Los Angeles County”."},
		LOB:  pages.Field{Name: "line_of_business", Label: "Line of business", Type: "text", Value: lob, Error: fe["line_of_business"], Hint: "For example “Cal MediConnect”."}}
	v.Problems = pages.Problems(v.Name, v.LOB)
	for _, t := range teams {
		at := pages.AdminTeam{ID: strconv.FormatInt(t.ID, 10), Name: t.Name, LineOfBusiness: t.LineOfBusiness,
			AddURL: fmt.Sprintf("/admin/teams/%d/members", t.ID), RemoveURL: fmt.Sprintf("/admin/teams/%d/members/remove", t.ID)}
		for _, m := range t.Members {
			at.Members = append(at.Members, pages.Option{Value: m.Email, Label: m.Name})
		}
		v.Teams = append(v.Teams, at)
	}
	return v, nil
}

func (s *Server) adminTeams(w http.ResponseWriter, r *http.Request) {
	v, err := s.teamsView(r, nil, "", "")
	s.renderBuilt(w, r, http.StatusOK, pages.AdminTeams(v), err)
}

func (s *Server) adminTeamCreate(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	name, lob := r.PostForm.Get("name"), r.PostForm.Get("line_of_business")
	_, err := s.messages.CreateTeam(r.Context(), s.viewer(r), name, lob)
	var fe accounts.FieldErrors
	switch {
	case errors.Is(err, messaging.ErrTeamExists):
		fe = accounts.FieldErrors{"name": "A team with this name exists."}
	case errors.As(err, &fe):
	case err != nil:
		s.serverError(w, r, err)
		return
	default:
		http.Redirect(w, r, "/admin/teams?"+url.Values{"notice": {"Team created."}}.Encode(), http.StatusSeeOther)
		return
	}
	v, verr := s.teamsView(r, fe, name, lob)
	s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminTeams(v), verr)
}

func (s *Server) adminMembership(member bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		teamID, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
		if err != nil {
			s.notFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			s.renderError(w, r, http.StatusBadRequest)
			return
		}
		err = s.messages.SetMembership(r.Context(), s.viewer(r), teamID, r.PostForm.Get("email"), member)
		var fe accounts.FieldErrors
		problem := ""
		switch {
		case errors.Is(err, messaging.ErrNotFound):
			s.notFound(w, r)
			return
		case errors.Is(err, messaging.ErrNotStaff):
			problem = "Nothing was changed: that address is not a representative's (staff) account."
		case errors.As(err, &fe):
			problem = "Nothing was changed: " + fe["email"]
		case err != nil:
			s.serverError(w, r, err)
			return
		default:
			http.Redirect(w, r, "/admin/teams?"+url.Values{"notice": {"Team updated."}}.Encode(), http.StatusSeeOther)
			return
		}
		v, verr := s.teamsView(r, nil, "", "")
		if verr != nil {
			s.serverError(w, r, verr)
			return
		}
		v.Problem = problem
		s.render(w, r, http.StatusUnprocessableEntity, pages.AdminTeams(v))
	}
}

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
			at, _ := s.formatTime(e.At)
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

func (s *Server) emergencyView(r *http.Request, thread, reason, duration string, fe accounts.FieldErrors) (pages.AdminEmergencyView, error) {
	grants, err := s.messages.EmergencyGrants(r.Context())
	if err != nil {
		return pages.AdminEmergencyView{}, err
	}
	v := pages.AdminEmergencyView{Chrome: s.chrome(r),
		Duration: pages.Field{Name: "duration", Label: "For how long", Error: fe["duration"]},
		Thread: pages.Field{Name: "thread", Label: "Thread id", Type: "text", Value: thread, Error: fe["thread"], Autocomplete: "off",
			Hint: "The id at the end of the thread's address."},
		Reason: pages.Field{Name: "reason", Label: "Reason", Value: reason, Error: fe["reason"],
			Hint: "For example: “treating physician unreachable; member admitted to ER, records needed now”."}}
	for _, d := range messaging.EmergencyDurations {
		val := d.String()
		v.Durations = append(v.Durations, pages.Option{Value: val, Label: layout.Duration(d), Selected: val == duration})
	}
	v.Problems = pages.Problems(v.Thread, v.Reason, v.Duration)
	now := time.Now()
	for _, g := range grants {
		row := pages.EmergencyRow{Admin: g.AdminEmail, Thread: g.ThreadID, Reason: g.Reason, Granted: s.day(g.GrantedAt), Expires: s.day(g.ExpiresAt), State: "expired"}
		if g.Active(now) {
			row.State = "active"
			if me, _ := currentUser(r.Context()); me.Email == g.AdminEmail {
				row.ReadURL = emergencyArea.threadURL + g.ThreadID
			}
		}
		v.Grants = append(v.Grants, row)
	}
	return v, nil
}

func (s *Server) adminEmergency(w http.ResponseWriter, r *http.Request) {
	v, err := s.emergencyView(r, "", "", "", nil)
	s.renderBuilt(w, r, http.StatusOK, pages.AdminEmergency(v), err)
}

func (s *Server) adminEmergencyGrant(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	f := r.PostForm
	thread, reason, duration := strings.TrimSpace(f.Get("thread")), f.Get("reason"), f.Get("duration")
	d, _ := time.ParseDuration(duration)
	err := s.messages.GrantEmergency(r.Context(), s.viewer(r), thread, reason, d, time.Now())
	var fe accounts.FieldErrors
	switch {
	case errors.Is(err, messaging.ErrNotFound):
		fe = accounts.FieldErrors{"thread": "There is no thread with this id."}
	case errors.As(err, &fe):
	case err != nil:
		s.serverError(w, r, err)
		return
	default:
		me, _ := currentUser(r.Context())
		s.log.WarnContext(r.Context(), "emergency access granted", "request_id", RequestID(r.Context()), "admin_id", me.ID, "thread_id", thread, "duration", d)
		http.Redirect(w, r, emergencyArea.threadURL+thread, http.StatusSeeOther)
		return
	}
	v, verr := s.emergencyView(r, thread, reason, duration, fe)
	s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminEmergency(v), verr)
}

func (s *Server) adminKeys(w http.ResponseWriter, r *http.Request) {
	versions, err := s.keys.Versions(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v := pages.AdminKeysView{Chrome: s.chrome(r), Notice: r.URL.Query().Get("notice")}
	var behind int64
	for _, k := range versions {
		v.Versions = append(v.Versions, pages.KeyRow{Version: strconv.FormatUint(uint64(k.Version), 10), State: k.State,
			Created: s.day(k.Created), DEKs: strconv.FormatInt(k.DEKs, 10), Current: k.Current})
		if !k.Current {
			behind += k.DEKs
		}
	}
	if behind > 0 {
		v.Pending = fmt.Sprintf("%d data keys are still wrapped by older versions: run `portal keys rewrap`.", behind)
	} else {
		v.Pending = "Every data key is wrapped by the current version."
	}
	s.render(w, r, http.StatusOK, pages.AdminKeys(v))
}

func (s *Server) keysConfirmView(r *http.Request, reason, reasonErr string) pages.AdminConfirmView {
	v := s.confirmView(r, accounts.User{}, "Rotate the key-encryption key?",
		"A new KEK version wraps every new data key from now on; older versions stay for reading until `portal keys rewrap` moves their data keys. Back up the keyring file afterwards; other instances reading the same file pick the new version up within a minute.",
		"/admin/keys/rotate", nil, reason, reasonErr)
	v.CancelURL = "/admin/keys"
	return v
}

func (s *Server) adminKeysRotateConfirm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, pages.AdminConfirm(s.keysConfirmView(r, "", "")))
}

func (s *Server) adminKeysRotate(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		s.render(w, r, http.StatusUnprocessableEntity, pages.AdminConfirm(s.keysConfirmView(r, "", "Say why (for the audit log).")))
		return
	}
	me, _ := currentUser(r.Context())
	v, err := s.keys.Rotate(r.Context(), me.ID, ClientIP(r.Context()).String(), reason)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.WarnContext(r.Context(), "key-encryption key rotated", "request_id", RequestID(r.Context()), "admin_id", me.ID, "version", v)
	http.Redirect(w, r, "/admin/keys?"+url.Values{"notice": {fmt.Sprintf("Version %d is now current. Back up the keyring file.", v)}}.Encode(), http.StatusSeeOther)
}
