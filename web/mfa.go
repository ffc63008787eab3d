package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/templates/pages"
)

// A sign-in whose password was right and that waits for its second step
// (a code, or setting up an app where one is required) is kept in the
// session under these keys. It is not a signed-in session: loadUser sees
// no user, and every signed-in page still sends the browser to /login.
const (
	sessPendingUser  = "mfa_user_id"
	sessPendingEpoch = "mfa_epoch"
	sessPendingAt    = "mfa_started_ms"
	sessPendingNext  = "mfa_next"
	sessPendingEnrol = "mfa_enrol"
)

// pendingTTL is how long the second step may take: long enough to install
// an authenticator app, short enough that a password typed on a shared
// computer does not wait there for the next person.
const pendingTTL = 15 * time.Minute

// Why the sign-in page is shown again after a second step that did not finish.
const (
	reasonLocked  = "locked"
	reasonTimeout = "mfa_timeout"
)

// pendingSignIn is a sign-in waiting for its second step.
type pendingSignIn struct {
	userID, epoch int64
	next          string
	enrol         bool
}

// startSecondStep keeps u's half-finished sign-in in a renewed session and
// sends the browser to the code page, or to setting up an app.
func (s *Server) startSecondStep(w http.ResponseWriter, r *http.Request, u accounts.User, next string, enrol bool) {
	ctx := r.Context()
	if err := s.sessions.RenewToken(ctx); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.sessions.Put(ctx, sessPendingUser, u.ID)
	s.sessions.Put(ctx, sessPendingEpoch, u.AuthEpoch)
	s.sessions.Put(ctx, sessPendingAt, time.Now().UnixMilli())
	s.sessions.Put(ctx, sessPendingNext, next)
	s.sessions.Put(ctx, sessPendingEnrol, enrol)
	to := "/login/second-factor"
	if enrol {
		to = "/account/mfa/totp"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// pending returns the half-finished sign-in of this browser. stale reports
// one that timed out (and is now forgotten).
func (s *Server) pending(r *http.Request) (p pendingSignIn, ok, stale bool) {
	ctx := r.Context()
	id := s.sessions.GetInt64(ctx, sessPendingUser)
	if id == 0 {
		return p, false, false
	}
	if time.Since(time.UnixMilli(s.sessions.GetInt64(ctx, sessPendingAt))) > pendingTTL {
		s.forgetPending(r)
		return p, false, true
	}
	return pendingSignIn{userID: id, epoch: s.sessions.GetInt64(ctx, sessPendingEpoch),
		next: s.sessions.GetString(ctx, sessPendingNext), enrol: s.sessions.GetBool(ctx, sessPendingEnrol)}, true, false
}

func (s *Server) forgetPending(r *http.Request) {
	for _, k := range []string{sessPendingUser, sessPendingEpoch, sessPendingAt, sessPendingNext, sessPendingEnrol} {
		s.sessions.Remove(r.Context(), k)
	}
}

// pendingOrRestart is this browser's half-finished sign-in; without one
// (none, or timed out) it sends the browser back to the password, saying
// why, and reports false.
func (s *Server) pendingOrRestart(w http.ResponseWriter, r *http.Request) (pendingSignIn, bool) {
	p, ok, stale := s.pending(r)
	switch {
	case stale:
		s.restartSignIn(w, r, reasonTimeout)
	case !ok:
		s.restartSignIn(w, r, reasonSignIn)
	}
	return p, ok
}

// restartSignIn ends a second step that cannot finish and sends the browser
// back to the password, saying why.
func (s *Server) restartSignIn(w http.ResponseWriter, r *http.Request, reason string) {
	s.forgetPending(r)
	http.Redirect(w, r, "/login?reason="+reason, http.StatusSeeOther)
}

// codeField is the one-time code input: a phone shows digits, and the
// browser may fill in a code that arrived by text.
func codeField(label, errMsg string, digitsOnly bool) pages.Field {
	f := pages.Field{Name: "code", Label: label, Type: "text", Error: errMsg, Required: true, MaxLength: 24,
		Autocomplete: "one-time-code", Hint: "6 digits; spaces do not matter."}
	if digitsOnly {
		f.InputMode = "numeric"
	} else {
		f.Autocomplete, f.Hint = "off", "16 letters and digits, as printed; dashes and spaces do not matter."
	}
	return f
}

func (s *Server) secondFactorView(r *http.Request, recovery bool, errMsg string) pages.SecondFactorView {
	label := "Code from your authenticator app"
	if recovery {
		label = "Recovery code"
	}
	return pages.SecondFactorView{Chrome: s.chrome(r), Recovery: recovery, Code: codeField(label, errMsg, !recovery)}
}

func (s *Server) secondFactorForm(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pendingOrRestart(w, r)
	if !ok {
		return
	}
	if p.enrol {
		http.Redirect(w, r, "/account/mfa/totp", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, pages.SecondFactor(s.secondFactorView(r, r.URL.Query().Get("recovery") != "", "")))
}

// secondFactor finishes signing in with a code from the app or a recovery code.
func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "code")
	if !ok {
		return
	}
	p, ok := s.pendingOrRestart(w, r)
	if !ok {
		return
	}
	code := f.Get("code")
	var u accounts.User
	var factor accounts.Factor
	err := f.textErr()
	if err == nil {
		u, factor, err = s.accounts.CompleteSignIn(r.Context(), p.userID, p.epoch, code, ClientIP(r.Context()).String())
	}
	if s.secondStepFailed(w, r, err) {
		return
	}
	if fe, bad := fieldErrors(err); bad {
		s.metrics.observeLogin(false)
		recovery := r.URL.Query().Get("recovery") != "" || len(strings.TrimSpace(code)) > 8
		s.render(w, r, http.StatusUnprocessableEntity, pages.SecondFactor(s.secondFactorView(r, recovery, fe["code"])))
		return
	}
	s.forgetPending(r)
	if s.signInTo(w, r, u, firstNonEmpty(accounts.SafeNext(p.next), homeFor(u))) {
		s.metrics.observeLogin(true)
		s.log.InfoContext(r.Context(), "signed in", "request_id", RequestID(r.Context()), "user_id", u.ID, "role", u.Role, "factor", factor)
	}
}

// secondStepFailed answers the outcomes that end a second step: too many
// wrong codes, an account changed meanwhile, or an internal error. It
// reports false, having written nothing, for success and field errors.
func (s *Server) secondStepFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch _, bad := fieldErrors(err); {
	case err == nil, bad:
		return false
	case errors.Is(err, accounts.ErrSecondFactorLocked):
		// Wrong codes locked the account: whoever is at this browser,
		// half signed in or signed in and guessing, is signed out.
		s.metrics.observeLogin(false)
		if err := s.endBrowserSession(w, r); err != nil {
			s.serverError(w, r, err)
			return true
		}
		http.Redirect(w, r, "/login?reason="+reasonLocked, http.StatusSeeOther)
	case errors.Is(err, accounts.ErrSessionEnded), errors.Is(err, accounts.ErrNoEnrolment):
		s.restartSignIn(w, r, reasonChanged)
	default:
		s.serverError(w, r, err)
	}
	return true
}

// setupUser is who is setting up an app: the signed-in user, or the one
// half way through a sign-in that requires it (atSignIn).
func (s *Server) setupUser(w http.ResponseWriter, r *http.Request) (u accounts.User, p pendingSignIn, atSignIn, ok bool) {
	if u, ok := currentUser(r.Context()); ok {
		return u, p, false, true
	}
	p, ok, stale := s.pending(r)
	switch {
	case stale:
		s.restartSignIn(w, r, reasonTimeout)
		return u, p, false, false
	case !ok || !p.enrol:
		s.redirectToLogin(w, r, firstNonEmpty(s.expiryReason(r), reasonSignIn))
		return u, p, false, false
	}
	u, err := s.accounts.SessionUser(r.Context(), p.userID, p.epoch)
	if err != nil {
		s.secondStepFailed(w, r, err)
		return u, p, false, false
	}
	return u, p, true, true
}

// totpSetupPage shows the set-up page for key secret ("" for a fresh key).
func (s *Server) totpSetupPage(w http.ResponseWriter, r *http.Request, u accounts.User, atSignIn bool, secret string, status int, errMsg string) {
	var key accounts.TOTPKey
	var err error
	if secret == "" {
		key, err = s.accounts.NewTOTPKey(u)
	} else {
		key, err = s.accounts.TOTPKeyFor(u, secret)
	}
	switch {
	case errors.Is(err, accounts.ErrMFANotAllowed):
		s.notFound(w, r)
		return
	case errors.Is(err, accounts.ErrNoEnrolment):
		// A damaged form: start again with a fresh key.
		s.totpSetupPage(w, r, u, atSignIn, "", status, "The set-up key on the page was damaged, so here is a new one. Add it to your app, then enter the code it shows.")
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	qr, err := qrCode(key.URL)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, status, pages.TOTPSetup(pages.TOTPSetupView{
		Chrome: s.chrome(r), AtSignIn: atSignIn, Replaces: u.HasTOTP, OrgName: s.cfg.Org.Name, Email: u.Email,
		Secret: groupsOfFour(key.Secret), Key: key.Secret, QR: qr,
		Code: codeField("The 6-digit code your app now shows for "+s.cfg.Org.Name, errMsg, true),
	}))
}

// groupsOfFour spaces a key for reading aloud and typing.
func groupsOfFour(k string) string {
	var b strings.Builder
	for i, r := range k {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Server) totpSetupForm(w http.ResponseWriter, r *http.Request) {
	if u, _, atSignIn, ok := s.setupUser(w, r); ok {
		s.totpSetupPage(w, r, u, atSignIn, "", http.StatusOK, "")
	}
}

// totpSetup confirms the app with a code from it, and shows the recovery
// codes. At a sign-in that required it, that code also finishes the sign-in.
func (s *Server) totpSetup(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "code", "secret")
	if !ok {
		return
	}
	u, p, atSignIn, ok := s.setupUser(w, r)
	if !ok {
		return
	}
	ip := ClientIP(r.Context()).String()
	secret := f.Get("secret")
	var codes []string
	err := f.textErr()
	if err == nil {
		if atSignIn {
			var signedIn accounts.User
			signedIn, codes, err = s.accounts.EnrolAtSignIn(r.Context(), p.userID, p.epoch, secret, f.Get("code"), ip)
			if err == nil {
				u = signedIn
			}
		} else {
			codes, err = s.accounts.ConfirmTOTP(r.Context(), u, secret, f.Get("code"), ip)
		}
	}
	if errors.Is(err, accounts.ErrNoEnrolment) || errors.Is(err, accounts.ErrMFANotAllowed) {
		// A damaged key (a fresh one is shown) or a role without the step (404).
		s.totpSetupPage(w, r, u, atSignIn, secret, http.StatusUnprocessableEntity, "")
		return
	}
	if s.secondStepFailed(w, r, err) {
		return
	}
	if fe, bad := fieldErrors(err); bad {
		s.totpSetupPage(w, r, u, atSignIn, secret, http.StatusUnprocessableEntity, fe["code"])
		return
	}
	next := "/account"
	if atSignIn {
		s.forgetPending(r)
		if err := s.signIn(w, r, u); err != nil {
			s.serverError(w, r, err)
			return
		}
		next = firstNonEmpty(accounts.SafeNext(p.next), homeFor(u))
		s.metrics.observeLogin(true)
		s.log.InfoContext(r.Context(), "signed in", "request_id", RequestID(r.Context()), "user_id", u.ID, "role", u.Role, "factor", accounts.FactorTOTP)
	}
	s.log.InfoContext(r.Context(), "authenticator app set up", "request_id", RequestID(r.Context()), "user_id", u.ID)
	s.render(w, r, http.StatusOK, pages.RecoveryCodes(pages.RecoveryCodesView{Chrome: s.chrome(r), Codes: codes, Continue: next,
		Notice: "Your authenticator app is set up. From now on, signing in asks for a code from it. We emailed you about the change."}))
}

// codeConfirm is a change to the second factor that a current code from the
// app must confirm: making new recovery codes, or turning the step off.
type codeConfirm struct {
	view pages.CodeConfirmView
	// allowed says whether the page applies to u at all (404 otherwise).
	allowed func(u accounts.User) bool
}

func (s *Server) recoveryCodesConfirm(r *http.Request) codeConfirm {
	return codeConfirm{
		view: pages.CodeConfirmView{Chrome: s.chrome(r), Title: "Make new recovery codes", Action: "/account/mfa/recovery-codes", Button: "Make new codes",
			Intro: "New codes replace the ones you have: the old ones stop working. Enter a code from your authenticator app to confirm."},
		allowed: func(u accounts.User) bool { return u.HasTOTP },
	}
}

func (s *Server) turnOffConfirm(r *http.Request) codeConfirm {
	policy := s.accounts.SecondFactorPolicy()
	return codeConfirm{
		view: pages.CodeConfirmView{Chrome: s.chrome(r), Title: "Turn off the code step", Action: "/account/mfa/off", Button: "Turn it off", Danger: true,
			Intro: "Signing in will ask only for your password, and your recovery codes stop working. You will be signed out everywhere else. Enter a code from your authenticator app to confirm."},
		allowed: func(u accounts.User) bool { return u.HasTOTP && policy.For(u.Role) != accounts.MFARequired },
	}
}

func (s *Server) showCodeConfirm(w http.ResponseWriter, r *http.Request, c codeConfirm, status int, errMsg string) {
	u, _ := currentUser(r.Context())
	if !c.allowed(u) {
		s.notFound(w, r)
		return
	}
	c.view.Code = codeField("Code from your authenticator app", errMsg, true)
	s.render(w, r, status, pages.CodeConfirm(c.view))
}

func (s *Server) recoveryCodesForm(w http.ResponseWriter, r *http.Request) {
	s.showCodeConfirm(w, r, s.recoveryCodesConfirm(r), http.StatusOK, "")
}

func (s *Server) turnOffForm(w http.ResponseWriter, r *http.Request) {
	s.showCodeConfirm(w, r, s.turnOffConfirm(r), http.StatusOK, "")
}

// confirmedCode reads the posted code for c. It answers itself (and
// reports false) when the page does not apply, the form is bad, or the
// code is wrong.
func (s *Server) confirmedCode(w http.ResponseWriter, r *http.Request, c codeConfirm, act func(u accounts.User, code string) error) bool {
	f, ok := s.postForm(w, r, "code")
	if !ok {
		return false
	}
	u, _ := currentUser(r.Context())
	if !c.allowed(u) {
		s.notFound(w, r)
		return false
	}
	err := f.textErr()
	if err == nil {
		err = act(u, f.Get("code"))
	}
	if s.secondStepFailed(w, r, err) {
		return false
	}
	if fe, bad := fieldErrors(err); bad {
		s.showCodeConfirm(w, r, c, http.StatusUnprocessableEntity, fe["code"])
		return false
	}
	return true
}

func (s *Server) newRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	var codes []string
	ok := s.confirmedCode(w, r, s.recoveryCodesConfirm(r), func(u accounts.User, code string) (err error) {
		codes, err = s.accounts.NewRecoveryCodes(r.Context(), u, code, ClientIP(r.Context()).String())
		return err
	})
	if ok {
		s.render(w, r, http.StatusOK, pages.RecoveryCodes(pages.RecoveryCodesView{Chrome: s.chrome(r), Codes: codes, Continue: "/account",
			Notice: "You have new recovery codes; the old ones no longer work. We emailed you about the change."}))
	}
}

// turnOff removes the app and recovery codes; every other session ends and
// this browser carries on in a renewed one.
func (s *Server) turnOff(w http.ResponseWriter, r *http.Request) {
	var changed accounts.User
	ok := s.confirmedCode(w, r, s.turnOffConfirm(r), func(u accounts.User, code string) (err error) {
		changed, err = s.accounts.TurnOffSecondFactor(r.Context(), u, code, ClientIP(r.Context()).String())
		return err
	})
	if ok && s.signInTo(w, r, changed, "/account?changed=mfa_off") {
		s.log.InfoContext(r.Context(), "second factor turned off", "request_id", RequestID(r.Context()), "user_id", changed.ID)
	}
}

// factorLabel says in a word what a user signs in with beyond the password.
func factorLabel(u accounts.User) string {
	var parts []string
	if u.HasTOTP {
		parts = append(parts, "Authenticator app")
	}
	switch {
	case u.Passkeys == 1:
		parts = append(parts, "1 passkey")
	case u.Passkeys > 1:
		parts = append(parts, strconv.Itoa(u.Passkeys)+" passkeys")
	}
	if len(parts) == 0 {
		return "None"
	}
	return strings.Join(parts, ", ")
}

// factorWords names how a sign-in was proven, for the account page.
var factorWords = map[string]string{
	string(accounts.FactorPassword):     "Password",
	string(accounts.FactorTOTP):         "Password and app code",
	string(accounts.FactorRecoveryCode): "Password and recovery code",
	string(accounts.FactorPasskey):      "Passkey",
}
