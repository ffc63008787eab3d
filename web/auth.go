package web

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/password"
	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/pages"
)

var loginNotices = map[string]string{
	reasonIdle:      "You were signed out after a period without activity, to protect the information on this screen. Please sign in again.",
	reasonDraft:     "You were signed out after a period without activity, before your message was sent. Sign in within 10 minutes and it comes back, ready to send.",
	reasonLifetime:  "You were signed out because you have been signed in for a long time. Please sign in again.",
	reasonChanged:   "You were signed out because your account changed (for example, its password was reset). Please sign in again.",
	reasonSignedOut: "You have signed out.",
	reasonReset:     "Your password has been changed and you were signed out everywhere. Sign in with your new password.",
	reasonSignIn:    "Please sign in to continue.",
	reasonLocked:    "Too many wrong codes or passwords: your account is locked for a while. Try again later, or ask your administrator.",
	reasonTimeout:   "Signing in took too long, so it was stopped to protect your account. Please enter your password again.",
}

func emailField(value, errMsg string) pages.Field {
	return pages.Field{Name: "email", Label: "Email address", Type: "email", Value: value, Error: errMsg,
		Autocomplete: "username", Required: true, MaxLength: 254}
}

func (s *Server) loginView(r *http.Request, email, next string) pages.LoginView {
	v := pages.LoginView{
		Chrome: s.chrome(r),
		Email:  emailField(email, ""),
		Pass:   pages.Field{Name: "password", Label: "Password", Type: "password", Autocomplete: "current-password", Required: true},
		Next:   accounts.SafeNext(next),
	}
	if s.passkeys != nil {
		// The browser may offer the passkeys it holds in the email
		// field's suggestions.
		v.Chrome, v.Passkeys = s.chromeWithScript(r, "js/passkeys.js"), true
		v.Email.Autocomplete = "username webauthn"
	}
	return v
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if u, ok := currentUser(r.Context()); ok {
		http.Redirect(w, r, firstNonEmpty(accounts.SafeNext(r.URL.Query().Get("next")), homeFor(u)), http.StatusSeeOther)
		return
	}
	v := s.loginView(r, "", r.URL.Query().Get("next"))
	reason := r.URL.Query().Get("reason")
	if reason == "" || reason == reasonSignIn {
		// A browser that was signed in and lost its session without a
		// redirect (e.g. opened /login directly) still deserves to know why.
		if er := s.expiryReason(r); er != "" {
			reason = er
			s.clearSignedInCookie(w)
		}
	}
	v.Notice = loginNotices[reason]
	s.render(w, r, http.StatusOK, pages.Login(v))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "email", "password")
	if !ok {
		return
	}
	email, next := f.Get("email"), f.Get("next")
	var u accounts.User
	err := f.textErr()
	if err == nil {
		u, err = s.accounts.Login(r.Context(), email, f.Get("password"), ClientIP(r.Context()).String())
	}
	fe, badInput := fieldErrors(err)
	switch {
	case badInput:
		v := s.loginView(r, email, next)
		v.Email.Error, v.Pass.Error = fe["email"], fe["password"]
		s.render(w, r, http.StatusUnprocessableEntity, pages.Login(v))
		return
	case errors.Is(err, accounts.ErrPasskeyRequired):
		v := s.loginView(r, email, next)
		v.Failure = "Your password is right, but your account's second step is a passkey: choose “Sign in with a passkey”."
		s.render(w, r, http.StatusUnauthorized, pages.Login(v))
		return
	case errors.Is(err, accounts.ErrSecondFactorRequired), errors.Is(err, accounts.ErrEnrolmentRequired):
		s.startSecondStep(w, r, u, accounts.SafeNext(next), errors.Is(err, accounts.ErrEnrolmentRequired))
		return
	case errors.Is(err, accounts.ErrInvalidCredentials):
		s.metrics.observeLogin(false)
		v := s.loginView(r, email, next)
		v.Failure = loginFailure
		s.render(w, r, http.StatusUnauthorized, pages.Login(v))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if s.signInTo(w, r, u, firstNonEmpty(accounts.SafeNext(next), homeFor(u))) {
		s.metrics.observeLogin(true)
		s.log.InfoContext(r.Context(), "signed in", "request_id", RequestID(r.Context()), "user_id", u.ID, "role", u.Role)
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if u, ok := currentUser(r.Context()); ok {
		if err := s.accounts.Logout(r.Context(), u, ClientIP(r.Context()).String()); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	if err := s.endBrowserSession(w, r); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login?reason="+reasonSignedOut, http.StatusSeeOther)
}

// tokenPage marks a page whose URL carries a secret: the browser must not
// send that URL to anyone as a Referer.
func tokenPage(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func (s *Server) passwordFields(pwErr, confirmErr string) (pages.Field, pages.Field) {
	return pages.Field{Name: "password", Label: "Password", Type: "password", Autocomplete: "new-password", Required: true, Error: pwErr, MinLength: password.MinLength,
			Hint: "At least 15 characters. A phrase of four or more unrelated words is easy to remember and hard to guess. Avoid your name, your email address and " + s.cfg.Org.Name + "."},
		pages.Field{Name: "password_confirm", Label: "Type the password again", Type: "password", Autocomplete: "new-password", Required: true, Error: confirmErr}
}

// newPasswordFields are the fields of a signed-in or reset user's new
// password, with the problems of a refused attempt.
func (s *Server) newPasswordFields(u accounts.User, fe accounts.FieldErrors, pw string) (pages.Field, pages.Field) {
	pass, confirm := s.passwordFields(strengthNote(fe["password"], pw, s.cfg.Org.Name, u.Email, u.DisplayName), fe["password_confirm"])
	pass.Label = "New password"
	confirm.Label = "Type the new password again"
	return pass, confirm
}

// strengthNote adds the strength of a refused password to its error, so the
// user learns how far off it was.
func strengthNote(pwErr, pw string, context ...string) string {
	if pwErr == "" || pw == "" {
		return pwErr
	}
	h := password.Strength(pw, context...)
	return pwErr + " Strength: " + h.Label + "."
}

func (s *Server) registerView(r *http.Request, token string, u accounts.User, name string, fe accounts.FieldErrors, pw string) pages.RegisterView {
	pass, confirm := s.passwordFields(strengthNote(fe["password"], pw, s.cfg.Org.Name, u.Email, name), fe["password_confirm"])
	return pages.RegisterView{
		Chrome:  s.chromeWithScript(r, "js/password.js"),
		Action:  "/register/" + token,
		OrgName: s.cfg.Org.Name,
		Email:   u.Email,
		Name: pages.Field{Name: "name", Label: "Your name", Type: "text", Value: name, Error: fe["name"], Required: true, MaxLength: 100,
			Autocomplete: "name", Hint: "As it should appear to " + s.cfg.Org.Name + ", for example “Dr. Maria Lopez, Lopez Family Clinic”."},
		Pass:    pass,
		Confirm: confirm,
	}
}

func (s *Server) linkProblem(w http.ResponseWriter, r *http.Request, register bool, token string, sent bool) {
	s.render(w, r, http.StatusGone, pages.LinkProblem(pages.LinkProblemView{
		Chrome: s.chrome(r), Register: register, ResendAction: "/register/" + token + "/new-link", Sent: sent,
	}))
}

// linkOwner finds the account behind an emailed link for purpose. When the
// link no longer works it answers itself, with the page that offers a new
// link (or the safe 500), and reports false.
func (s *Server) linkOwner(w http.ResponseWriter, r *http.Request, token string, purpose accounts.Purpose) (accounts.User, bool) {
	_, u, err := s.accounts.CheckLink(r.Context(), token, purpose)
	switch {
	case errors.Is(err, accounts.ErrTokenInvalid):
		s.linkProblem(w, r, purpose == accounts.PurposeRegister, token, false)
		return u, false
	case err != nil:
		s.serverError(w, r, err)
		return u, false
	}
	return u, true
}

func (s *Server) registerForm(w http.ResponseWriter, r *http.Request) {
	tokenPage(w)
	token := chi.URLParam(r, "token")
	if u, ok := s.linkOwner(w, r, token, accounts.PurposeRegister); ok {
		s.render(w, r, http.StatusOK, pages.Register(s.registerView(r, token, u, "", nil, "")))
	}
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	tokenPage(w)
	token := chi.URLParam(r, "token")
	f, ok := s.postForm(w, r, "name", "password", "password_confirm")
	if !ok {
		return
	}
	name, pw := f.Get("name"), f.Get("password")
	var u accounts.User
	var t accounts.Token
	err := f.textErr()
	if err == nil {
		u, t, err = s.accounts.Register(r.Context(), token, name, pw, f.Get("password_confirm"), ClientIP(r.Context()).String())
	}
	fe, badInput := fieldErrors(err)
	switch {
	case badInput:
		if pending, ok := s.linkOwner(w, r, token, accounts.PurposeRegister); ok {
			s.render(w, r, http.StatusUnprocessableEntity, pages.Register(s.registerView(r, token, pending, name, fe, pw)))
		}
		return
	case errors.Is(err, accounts.ErrTokenInvalid):
		s.linkProblem(w, r, true, token, false)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if s.signInTo(w, r, u, firstNonEmpty(accounts.SafeNext(t.NextPath), homeFor(u))) {
		s.log.InfoContext(r.Context(), "registered", "request_id", RequestID(r.Context()), "user_id", u.ID)
	}
}

func (s *Server) registerNewLink(w http.ResponseWriter, r *http.Request) {
	tokenPage(w)
	token := chi.URLParam(r, "token")
	if err := s.accounts.RequestNewRegistrationLink(r.Context(), token, ClientIP(r.Context()).String()); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.linkProblem(w, r, true, token, true)
}

func (s *Server) forgotView(r *http.Request, email, errMsg string) pages.ForgotView {
	return pages.ForgotView{Chrome: s.chrome(r), Email: emailField(email, errMsg), TTL: layout.Duration(s.cfg.Accounts.ResetTTL)}
}

func (s *Server) forgotForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, pages.Forgot(s.forgotView(r, "", "")))
}

func (s *Server) forgot(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "email")
	if !ok {
		return
	}
	email := f.Get("email")
	err := f.textErr()
	if err == nil {
		err = s.accounts.RequestReset(r.Context(), email, ClientIP(r.Context()).String())
	}
	fe, badInput := fieldErrors(err)
	switch {
	case badInput:
		s.render(w, r, http.StatusUnprocessableEntity, pages.Forgot(s.forgotView(r, email, fe["email"])))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	v := s.forgotView(r, "", "")
	v.Sent = true
	s.render(w, r, http.StatusOK, pages.Forgot(v))
}

func (s *Server) resetView(r *http.Request, token string, u accounts.User, fe accounts.FieldErrors, pw string) pages.ResetView {
	pass, confirm := s.newPasswordFields(u, fe, pw)
	return pages.ResetView{Chrome: s.chromeWithScript(r, "js/password.js"), Action: "/reset-password/" + token, Email: u.Email, Pass: pass, Confirm: confirm}
}

func (s *Server) resetForm(w http.ResponseWriter, r *http.Request) {
	tokenPage(w)
	token := chi.URLParam(r, "token")
	if u, ok := s.linkOwner(w, r, token, accounts.PurposeReset); ok {
		s.render(w, r, http.StatusOK, pages.Reset(s.resetView(r, token, u, nil, "")))
	}
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	tokenPage(w)
	token := chi.URLParam(r, "token")
	f, ok := s.postForm(w, r, "password", "password_confirm")
	if !ok {
		return
	}
	pw := f.Get("password")
	var u accounts.User
	err := f.textErr()
	if err == nil {
		u, err = s.accounts.ResetPassword(r.Context(), token, pw, f.Get("password_confirm"), ClientIP(r.Context()).String())
	}
	fe, badInput := fieldErrors(err)
	switch {
	case badInput:
		if owner, ok := s.linkOwner(w, r, token, accounts.PurposeReset); ok {
			s.render(w, r, http.StatusUnprocessableEntity, pages.Reset(s.resetView(r, token, owner, fe, pw)))
		}
		return
	case errors.Is(err, accounts.ErrTokenInvalid):
		s.linkProblem(w, r, false, token, false)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	// The reset ended every session, this browser's included: it does not
	// sign in, so whoever holds the link still needs the new password.
	if err := s.endBrowserSession(w, r); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "password reset", "request_id", RequestID(r.Context()), "user_id", u.ID)
	http.Redirect(w, r, "/login?reason="+reasonReset, http.StatusSeeOther)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
