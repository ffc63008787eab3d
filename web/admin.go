package web

import (
	"fmt"
	"net/http"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/templates/pages"
)

// The admin console, one file per area: admin_reauth.go (asking for the
// password again), admin_users.go (accounts and roles), admin_staff.go,
// admin_teams.go, admin_audit.go (viewer and CSV export),
// admin_emergency.go (break-glass reading) and admin_keys.go. This file
// holds what they share.

// adminHome is the console's front door: the user list.
func (s *Server) adminHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}

// options lists select options from value, label pairs, marking selected.
func options(selected string, pairs ...string) []pages.Option {
	var out []pages.Option
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, pages.Option{Value: pairs[i], Label: pairs[i+1], Selected: pairs[i] == selected})
	}
	return out
}

// confirmView is the confirmation page of a dangerous admin change: what it
// does, and the reason it asks for (kept in the audit log).
func (s *Server) confirmView(r *http.Request, u accounts.User, title, description, formAction string, hidden []pages.Option, reason, reasonErr string) pages.AdminConfirmView {
	v := pages.AdminConfirmView{Chrome: s.chrome(r), Title: title, Description: description, UserEmail: u.Email, FormAction: formAction,
		Hidden: hidden, CancelURL: fmt.Sprintf("/admin/users/%d", u.ID), Danger: true,
		Reason: pages.Field{Name: "reason", Label: "Reason (kept in the audit log)", Value: reason, Error: reasonErr,
			Hint: "For example: “provider called Provider Services, identity checked by callback”."}}
	v.Problems = pages.Problems(v.Reason)
	return v
}
