package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/templates/pages"
)

// Accounts and roles: the user list, one account's page, and the actions
// and role changes an admin confirms with a reason for the audit log.

const usersPerPage = 50

// maxUsersPage bounds the page number a URL may ask for, so that its
// offset (and the next page's number) cannot overflow into a negative
// OFFSET, a database error (issue 13: ?page=184467440737095517 was a 500).
const maxUsersPage = 1 << 20

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 0 {
		page = 0 // also out of range: Atoi then gives the largest int
	}
	page = min(page, maxUsersPage)
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
			Role: string(u.Role), Status: string(u.Status), LastLogin: s.day(r.Context(), u.LastLoginAt), Factor: factorLabel(u)})
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

// targetUserForm is targetUser for a form post with a reason: the account
// and the form's fields, or false when it has answered itself (404, 400 or
// 422).
func (s *Server) targetUserForm(w http.ResponseWriter, r *http.Request) (accounts.User, postedForm, bool) {
	u, ok := s.targetUser(w, r)
	if !ok {
		return u, postedForm{}, false
	}
	f, ok := s.postForm(w, r, "reason")
	return u, f, ok
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
	v := pages.AdminUserView{Chrome: s.chrome(r), Email: u.Email, Name: u.DisplayName, Role: string(u.Role), Status: string(u.Status), Factor: factorLabel(u),
		LastLogin: s.day(r.Context(), u.LastLoginAt), Created: s.day(r.Context(), u.CreatedAt), Failed: strconv.Itoa(u.FailedLogins), Notice: notice, Problem: problem,
		AuditURL: "/admin/audit?" + url.Values{"subject": {u.Email}}.Encode()}
	if u.TemporarilyLocked(time.Now()) {
		v.LockNote = "Locked after failed sign-ins until " + s.day(r.Context(), u.LockedUntil)
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
	u, f, ok := s.targetUserForm(w, r)
	if !ok {
		return
	}
	action, ok := accounts.ParseAdminAction(f.Get("action"))
	if !ok {
		s.renderError(w, r, http.StatusBadRequest)
		return
	}
	me, _ := currentUser(r.Context())
	reason := f.Get("reason")
	err := f.textErr()
	if err == nil {
		_, err = s.accounts.Administer(r.Context(), me, u.ID, action, reason, ClientIP(r.Context()).String())
	}
	label, _ := actionInfo(action)
	if fe, badInput := fieldErrors(err); badInput {
		s.render(w, r, http.StatusUnprocessableEntity, pages.AdminConfirm(s.actionConfirmView(r, u, action, reason, fe["reason"])))
		return
	}
	if s.userChanged(w, r, u, err, label, "Done: "+label+".") {
		s.log.InfoContext(r.Context(), "admin action", "request_id", RequestID(r.Context()), "admin_id", me.ID, "user_id", u.ID, "action", action)
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
	u, f, ok := s.targetUserForm(w, r)
	if !ok {
		return
	}
	me, _ := currentUser(r.Context())
	role, reason := accounts.Role(f.Get("role")), f.Get("reason")
	err := f.textErr()
	if err == nil {
		_, err = s.accounts.ChangeRole(r.Context(), me, u.ID, role, reason, ClientIP(r.Context()).String())
	}
	fe, badInput := fieldErrors(err)
	switch {
	case badInput && fe["role"] != "":
		s.renderError(w, r, http.StatusBadRequest) // a forged role value
	case badInput:
		s.render(w, r, http.StatusUnprocessableEntity, pages.AdminConfirm(s.roleConfirmView(r, u, role, reason, fe["reason"])))
	default:
		s.userChanged(w, r, u, err, "Make this account "+string(role), "Role changed to "+string(role)+".")
	}
}

// userChanged answers an admin change to account u that was not refused for
// its input: refused by a rule (409, the account's page says why), failed
// (the safe 500), or done (back to the account's page with notice). It
// reports whether the change was done.
func (s *Server) userChanged(w http.ResponseWriter, r *http.Request, u accounts.User, err error, action, notice string) bool {
	if problem, refused := refusal(err, action); refused {
		s.renderAdminUser(w, r, u, http.StatusConflict, "", problem)
		return false
	}
	if err != nil {
		s.serverError(w, r, err)
		return false
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/users/%d?", u.ID)+url.Values{"notice": {notice}}.Encode(), http.StatusSeeOther)
	return true
}
