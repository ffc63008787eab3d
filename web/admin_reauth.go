package web

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
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
	v := pages.ReauthView{Chrome: s.chrome(r), Email: u.Email, Next: accounts.SafeNext(next), Failure: failure}
	v.Pass, v.Code = proofFields(u)
	return v
}

// proofFields ask a signed-in user to prove themselves again as at sign-in:
// the password, and the app's code when they have an app (else nil).
func proofFields(u accounts.User) (pages.Field, *pages.Field) {
	pass := pages.Field{Name: "password", Label: "Your password", Type: "password", Autocomplete: "current-password", Required: true}
	if !u.HasTOTP {
		return pass, nil
	}
	code := codeField("Code from your authenticator app", "", true)
	return pass, &code
}

func (s *Server) reauthForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, pages.Reauth(s.reauthView(r, r.URL.Query().Get("next"), "")))
}

// reauth asks for the password again, and the app's code when the admin
// has one: the same proof as signing in.
func (s *Server) reauth(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "password", "code")
	if !ok {
		return
	}
	u, _ := currentUser(r.Context())
	next := accounts.SafeNext(f.Get("next"))
	if f.notText != nil {
		v := s.reauthView(r, next, "")
		v.Pass.Error = f.notText["password"]
		if v.Code != nil {
			v.Code.Error = f.notText["code"]
		}
		s.render(w, r, http.StatusUnprocessableEntity, pages.Reauth(v))
		return
	}
	// The same path as signing in: failures count toward the lockout and
	// are audited.
	err := s.accounts.Reauthenticate(r.Context(), u, f.Get("password"), f.Get("code"), ClientIP(r.Context()).String())
	if errors.Is(err, accounts.ErrEnrolmentRequired) || errors.Is(err, accounts.ErrPasskeyRequired) {
		// Signed in before the policy required a second factor: set one
		// up before the admin pages open again.
		http.Redirect(w, r, "/account/mfa/totp", http.StatusSeeOther)
		return
	}
	fe, badInput := fieldErrors(err)
	switch {
	case errors.Is(err, accounts.ErrInvalidCredentials), badInput && (fe["code"] == "" || !u.HasTOTP):
		s.render(w, r, http.StatusUnauthorized, pages.Reauth(s.reauthView(r, next, reauthFailure)))
		return
	case badInput:
		v := s.reauthView(r, next, "")
		v.Code.Error = fe["code"]
		s.render(w, r, http.StatusUnauthorized, pages.Reauth(v))
		return
	case s.secondStepFailed(w, r, err):
		return
	}
	s.sessions.Put(r.Context(), sessAdminSeen, time.Now().UnixMilli())
	http.Redirect(w, r, firstNonEmpty(next, "/admin/users"), http.StatusSeeOther)
}
