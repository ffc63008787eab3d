package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/passkeys"
	"github.com/healthnet/secureportal/templates/pages"
)

// The passkey ceremonies' JSON endpoints (/webauthn/…) are called by
// static/js/passkeys.js. Each ceremony is begun and finished in two
// requests; what go-webauthn must remember between them waits in the
// session under these keys (the autofill sign-in apart from the button's,
// so that one does not overwrite the other's challenge).
const (
	sessPasskeyRegister = "webauthn_register"
	sessPasskeyLogin    = "webauthn_login"
	sessPasskeyAutofill = "webauthn_login_autofill"
)

// maxCeremonyBody bounds a browser's answer to a ceremony (a few KiB).
const maxCeremonyBody = 64 << 10

// ceremonyAnswer is a ceremony endpoint's JSON: what to show, or where to go.
type ceremonyAnswer struct {
	Error    string `json:"error,omitempty"`
	Redirect string `json:"redirect,omitempty"`
}

func (s *Server) ceremonyJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Server) ceremonyAnswer(w http.ResponseWriter, status int, a ceremonyAnswer) {
	b, _ := json.Marshal(a)
	s.ceremonyJSON(w, status, b)
}

// ceremonyFailed answers a ceremony that did not go through: the reason in
// the log (never shown: it is developer detail), plain words for the user.
func (s *Server) ceremonyFailed(w http.ResponseWriter, r *http.Request, err error, words string) {
	if errors.Is(err, passkeys.ErrRefused) || errors.Is(err, passkeys.ErrCloned) {
		s.log.InfoContext(r.Context(), "passkey ceremony refused", "request_id", RequestID(r.Context()), "err", err.Error())
		s.ceremonyAnswer(w, http.StatusBadRequest, ceremonyAnswer{Error: words})
		return
	}
	s.log.ErrorContext(r.Context(), "passkey ceremony failed", "request_id", RequestID(r.Context()), "err", err.Error())
	s.ceremonyAnswer(w, http.StatusInternalServerError, ceremonyAnswer{Error: "Something went wrong on our side (request " + RequestID(r.Context()) + "). Please try again."})
}

// ceremonyBody reads the browser's answer to a ceremony; over
// maxCeremonyBody it answers 413 itself and reports false.
func (s *Server) ceremonyBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCeremonyBody))
	if err != nil {
		s.ceremonyAnswer(w, http.StatusRequestEntityTooLarge, ceremonyAnswer{Error: "That answer from the browser is too large."})
		return nil, false
	}
	return body, true
}

// passkeysAvailable answers 404 itself when the portal cannot offer
// passkeys (its address is not a domain name).
func (s *Server) passkeysAvailable(w http.ResponseWriter, r *http.Request) bool {
	if s.passkeys == nil {
		s.notFound(w, r)
		return false
	}
	return true
}

// passkeyAccount is u as the ceremonies see them.
func (s *Server) passkeyAccount(r *http.Request, u accounts.User) (passkeys.Account, []accounts.Passkey, error) {
	h, list, err := s.accounts.PasskeyAccount(r.Context(), u)
	return accountFor(u, h, list), list, err
}

func accountFor(u accounts.User, handle []byte, list []accounts.Passkey) passkeys.Account {
	a := passkeys.Account{Handle: handle, Email: u.Email, Name: displayName(u)}
	for _, p := range list {
		a.Records = append(a.Records, p.Record)
	}
	return a
}

func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysAvailable(w, r) {
		return
	}
	u, _ := currentUser(r.Context())
	a, _, err := s.passkeyAccount(r, u)
	if err != nil {
		s.ceremonyFailed(w, r, err, "")
		return
	}
	options, session, err := s.passkeys.BeginRegistration(a)
	if err != nil {
		s.ceremonyFailed(w, r, err, "")
		return
	}
	s.sessions.Put(r.Context(), sessPasskeyRegister, session)
	s.ceremonyJSON(w, http.StatusOK, options)
}

// passkeyRegisterFinish keeps the new passkey, named by ?name=.
func (s *Server) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysAvailable(w, r) {
		return
	}
	u, _ := currentUser(r.Context())
	body, ok := s.ceremonyBody(w, r)
	if !ok {
		return
	}
	a, _, err := s.passkeyAccount(r, u)
	if err != nil {
		s.ceremonyFailed(w, r, err, "")
		return
	}
	credID, record, err := s.passkeys.FinishRegistration(a, s.sessions.PopBytes(r.Context(), sessPasskeyRegister), body)
	if err != nil {
		s.ceremonyFailed(w, r, err, "The passkey was not added: your browser's answer did not check out, or took too long. Please try again.")
		return
	}
	err = s.accounts.AddPasskey(r.Context(), u, r.URL.Query().Get("name"), credID, record, ClientIP(r.Context()).String())
	fe, bad := fieldErrors(err)
	switch {
	case bad:
		s.ceremonyAnswer(w, http.StatusUnprocessableEntity, ceremonyAnswer{Error: fe["name"]})
		return
	case errors.Is(err, accounts.ErrPasskeyExists):
		s.ceremonyAnswer(w, http.StatusConflict, ceremonyAnswer{Error: "That passkey is already added to an account."})
		return
	case err != nil:
		s.ceremonyFailed(w, r, err, "")
		return
	}
	s.log.InfoContext(r.Context(), "passkey added", "request_id", RequestID(r.Context()), "user_id", u.ID)
	s.ceremonyAnswer(w, http.StatusOK, ceremonyAnswer{Redirect: "/account/passkeys?added=1"})
}

// passkeyLoginBegin starts a sign-in with a passkey (?autofill=1: the kind
// the browser offers in the email field).
func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysAvailable(w, r) {
		return
	}
	autofill := r.URL.Query().Get("autofill") != ""
	options, session, err := s.passkeys.BeginLogin(autofill)
	if err != nil {
		s.ceremonyFailed(w, r, err, "")
		return
	}
	s.sessions.Put(r.Context(), loginCeremonyKey(autofill), session)
	s.ceremonyJSON(w, http.StatusOK, options)
}

func loginCeremonyKey(autofill bool) string {
	if autofill {
		return sessPasskeyAutofill
	}
	return sessPasskeyLogin
}

// passkeyLoginFinish signs in with the passkey the browser proved: two
// factors in one, so no second step follows. ?next= is where to go.
func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysAvailable(w, r) {
		return
	}
	body, ok := s.ceremonyBody(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	var u accounts.User
	session := s.sessions.PopBytes(ctx, loginCeremonyKey(r.URL.Query().Get("autofill") != ""))
	_, credID, record, err := s.passkeys.FinishLogin(session, body, func(handle []byte) (passkeys.Account, error) {
		found, list, err := s.accounts.UserByPasskeyHandle(ctx, handle)
		u = found
		return accountFor(found, handle, list), err
	})
	if errors.Is(err, passkeys.ErrCloned) {
		if err := s.accounts.PasskeyRefused(ctx, u, "passkey_clone_warning", ClientIP(ctx).String()); err != nil {
			s.log.ErrorContext(ctx, "audit refused passkey", "request_id", RequestID(ctx), "err", err)
		}
	}
	if err != nil {
		s.metrics.observeLogin(false)
		s.ceremonyFailed(w, r, err, "That passkey did not sign you in. Try again, or sign in with your email address and password.")
		return
	}
	u, err = s.accounts.SignInWithPasskey(ctx, u, credID, record, ClientIP(ctx).String())
	if errors.Is(err, accounts.ErrInvalidCredentials) {
		s.metrics.observeLogin(false)
		s.ceremonyAnswer(w, http.StatusUnauthorized, ceremonyAnswer{Error: loginFailure})
		return
	}
	if err == nil {
		err = s.signIn(w, r, u)
	}
	if err != nil {
		s.ceremonyFailed(w, r, err, "")
		return
	}
	s.forgetPending(r)
	s.metrics.observeLogin(true)
	s.log.InfoContext(ctx, "signed in", "request_id", RequestID(ctx), "user_id", u.ID, "role", u.Role, "factor", accounts.FactorPasskey)
	s.ceremonyAnswer(w, http.StatusOK, ceremonyAnswer{Redirect: firstNonEmpty(accounts.SafeNext(r.URL.Query().Get("next")), homeFor(u))})
}

func (s *Server) passkeysView(r *http.Request, list []accounts.Passkey, notice string) pages.PasskeysView {
	v := pages.PasskeysView{Chrome: s.chromeWithScript(r, "js/passkeys.js"), Notice: notice,
		Name: pages.Field{Name: "name", Label: "Name this passkey", Type: "text", MaxLength: 100, Autocomplete: "off",
			Hint: "So that you can tell your passkeys apart, for example “Front desk computer” or “My phone”."}}
	for _, p := range list {
		row := pages.PasskeyRow{Name: p.Name, Added: s.day(r.Context(), p.CreatedAt), LastUsed: "Not used yet", RemoveURL: "/account/passkeys/" + strconv.FormatInt(p.ID, 10) + "/remove"}
		if !p.LastUsedAt.IsZero() {
			row.LastUsed = s.day(r.Context(), p.LastUsedAt)
		}
		v.Passkeys = append(v.Passkeys, row)
	}
	return v
}

// passkeysPage lists the user's passkeys and adds new ones (the adding is
// the page's script: a passkey cannot be made without one).
func (s *Server) passkeysPage(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysAvailable(w, r) {
		return
	}
	u, _ := currentUser(r.Context())
	list, err := s.accounts.Passkeys(r.Context(), u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	notice := ""
	switch r.URL.Query().Get("added") + r.URL.Query().Get("removed") {
	case "1":
		notice = "Your passkey was added. Next time, choose “Sign in with a passkey”. We emailed you about the change."
		if r.URL.Query().Get("removed") != "" {
			notice = "The passkey was removed. We emailed you about the change."
		}
	}
	s.render(w, r, http.StatusOK, pages.Passkeys(s.passkeysView(r, list, notice)))
}

// passkeyToRemove finds the signed-in user's passkey named by {id}; it
// answers 404 itself when there is none.
func (s *Server) passkeyToRemove(w http.ResponseWriter, r *http.Request) (accounts.User, accounts.Passkey, bool) {
	u, _ := currentUser(r.Context())
	if !s.passkeysAvailable(w, r) {
		return u, accounts.Passkey{}, false
	}
	list, err := s.accounts.Passkeys(r.Context(), u)
	if err != nil {
		s.serverError(w, r, err)
		return u, accounts.Passkey{}, false
	}
	for _, p := range list {
		if strconv.FormatInt(p.ID, 10) == chi.URLParam(r, "id") {
			return u, p, true
		}
	}
	s.notFound(w, r)
	return u, accounts.Passkey{}, false
}

func (s *Server) removePasskeyView(r *http.Request, u accounts.User, p accounts.Passkey) pages.RemovePasskeyView {
	v := pages.RemovePasskeyView{Chrome: s.chrome(r), Name: p.Name, Action: "/account/passkeys/" + strconv.FormatInt(p.ID, 10) + "/remove"}
	v.Pass, v.Code = proofFields(u)
	return v
}

func (s *Server) removePasskeyForm(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := s.passkeyToRemove(w, r); ok {
		s.render(w, r, http.StatusOK, pages.RemovePasskey(s.removePasskeyView(r, u, p)))
	}
}

// removePasskey deletes a passkey after the password (and the app's code):
// an unattended signed-in browser must not be enough to change how the
// account signs in.
func (s *Server) removePasskey(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "password", "code")
	if !ok {
		return
	}
	u, p, ok := s.passkeyToRemove(w, r)
	if !ok {
		return
	}
	err := f.textErr()
	if err == nil {
		err = s.accounts.RemovePasskey(r.Context(), u, p.ID, f.Get("password"), f.Get("code"), ClientIP(r.Context()).String())
	}
	fe, bad := fieldErrors(err)
	switch {
	case bad, errors.Is(err, accounts.ErrInvalidCredentials):
		v := s.removePasskeyView(r, u, p)
		v.Failure = firstNonEmpty(fe["code"], fe["password"], reauthFailure)
		s.render(w, r, http.StatusUnauthorized, pages.RemovePasskey(v))
		return
	case errors.Is(err, accounts.ErrNotFound):
		s.notFound(w, r)
		return
	case s.secondStepFailed(w, r, err):
		return
	}
	s.log.InfoContext(r.Context(), "passkey removed", "request_id", RequestID(r.Context()), "user_id", u.ID)
	http.Redirect(w, r, "/account/passkeys?removed=1", http.StatusSeeOther)
}
