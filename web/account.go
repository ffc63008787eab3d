package web

import (
	"net/http"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/i18n"
	"github.com/healthnet/secureportal/templates/pages"
)

// account shows signed-in users their own account.
func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r.Context())
	h, err := s.accounts.SignInHistory(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v := pages.AccountView{Chrome: s.chrome(r), Email: u.Email, Name: displayName(u), Role: string(u.Role), LastLogin: s.day(r.Context(), u.LastLoginAt),
		PreviousLogin: i18n.T(r.Context(), "None: this is your first sign-in.")}
	if !h.Previous.IsZero() {
		v.PreviousLogin = i18n.Tf(r.Context(), "%s, from %s", s.day(r.Context(), h.Previous), h.PreviousIP)
	}
	switch {
	case h.FailedSince == 1:
		v.FailedAttempts = i18n.T(r.Context(), "1 failed sign-in attempt with your email address since your previous sign-in.")
	case h.FailedSince > 1:
		v.FailedAttempts = i18n.Tf(r.Context(), "%d failed sign-in attempts with your email address since your previous sign-in.", h.FailedSince)
	}
	if v.Factors, err = s.accountFactors(r, u, h); err != nil {
		s.serverError(w, r, err)
		return
	}
	if u.Role == accounts.RoleStaff {
		a, err := s.messages.AwayOf(r.Context(), u.ID)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		v.Away = s.awayState(a)
	}
	if u.Role == accounts.RoleProvider {
		p, err := s.accounts.Profile(r.Context(), u)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		v.Profile = &pages.ProfileView{Practice: p.Practice, Phone: p.Phone, Language: languageName(p.Language), Notify: notifyWords(p.Notify)}
	}
	switch r.URL.Query().Get("changed") {
	case "profile":
		v.Notice = "Your profile was saved."
	case "away":
		v.Notice = "Your out of office was saved."
	case "password":
		v.Notice = "Your password was changed. You were signed out everywhere else, and we emailed you about the change."
	case "sessions":
		v.Notice = "You were signed out everywhere else. This browser stays signed in."
	case "mfa_off":
		v.Notice = "Signing in now asks only for your password. You were signed out everywhere else, and we emailed you about the change."
	}
	s.render(w, r, http.StatusOK, pages.Account(v))
}

func (s *Server) changePasswordView(r *http.Request, u accounts.User, fe accounts.FieldErrors, pw string) pages.ChangePasswordView {
	pass, confirm := s.newPasswordFields(u, fe, pw)
	return pages.ChangePasswordView{Chrome: s.chromeWithScript(r, "js/password.js"), Email: u.Email, Pass: pass, Confirm: confirm,
		Current: pages.Field{Name: "current_password", Label: "Current password", Type: "password", Autocomplete: "current-password", Required: true, Error: fe["current_password"]}}
}

func (s *Server) changePasswordForm(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r.Context())
	s.render(w, r, http.StatusOK, pages.ChangePassword(s.changePasswordView(r, u, nil, "")))
}

// changePassword sets a new password for the signed-in user. The change
// ends every session of the account; this browser carries on in a renewed
// session under the new auth epoch.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "current_password", "password", "password_confirm")
	if !ok {
		return
	}
	u, _ := currentUser(r.Context())
	pw := f.Get("password")
	var changed accounts.User
	err := f.textErr()
	if err == nil {
		changed, err = s.accounts.ChangePassword(r.Context(), u, f.Get("current_password"), pw, f.Get("password_confirm"), ClientIP(r.Context()).String())
	}
	fe, badInput := fieldErrors(err)
	switch {
	case badInput:
		s.render(w, r, http.StatusUnprocessableEntity, pages.ChangePassword(s.changePasswordView(r, u, fe, pw)))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if s.signInTo(w, r, changed, "/account?changed=password") {
		s.log.InfoContext(r.Context(), "password changed", "request_id", RequestID(r.Context()), "user_id", u.ID)
	}
}

// endOtherSessions signs the user out on every other computer; this browser
// carries on in a renewed session.
func (s *Server) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r.Context())
	changed, err := s.accounts.EndOtherSessions(r.Context(), u, ClientIP(r.Context()).String())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if s.signInTo(w, r, changed, "/account?changed=sessions") {
		s.log.InfoContext(r.Context(), "other sessions ended", "request_id", RequestID(r.Context()), "user_id", u.ID)
	}
}

// accountFactors is what the account page says about signing in: the
// second factor (where the policy offers one) and the recent sign-ins.
func (s *Server) accountFactors(r *http.Request, u accounts.User, h accounts.SignInHistory) (pages.AccountFactors, error) {
	req := s.accounts.SecondFactorPolicy().For(u.Role)
	v := pages.AccountFactors{Offered: req != accounts.MFAOff, Required: req == accounts.MFARequired,
		PasskeysOffered: s.passkeys != nil, Passkeys: u.Passkeys}
	for _, si := range h.Recent {
		v.Recent = append(v.Recent, pages.SignInRow{When: s.day(r.Context(), si.At), IP: si.IP, Factor: firstNonEmpty(factorWords[string(si.Factor)], string(si.Factor))})
	}
	if !v.Offered {
		return v, nil
	}
	f, err := s.accounts.Factors(r.Context(), u)
	if err != nil {
		return v, err
	}
	if !f.TOTPSince.IsZero() {
		v.TOTPSince = s.day(r.Context(), f.TOTPSince)
	}
	v.RecoveryCodes = f.RecoveryCodes
	return v, nil
}
