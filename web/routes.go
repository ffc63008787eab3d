package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
)

// Every handler has one shape,
//
//	func (s *Server) name(w http.ResponseWriter, r *http.Request)
//
// and every route below names one as a method value (s.inbox). One shape is
// grep-able (`func (s \*Server) \w+\(w http.ResponseWriter, r \*http.Request\)`
// lists every handler), reads the same in every file and needs no factory
// to be called right. What differs between routes that share a handler is
// carried by middleware into the request context (inArea: a provider's,
// staff's or emergency reader's conversation pages), or is two small
// handlers over one function (adminMemberAdd, adminMemberRemove), so this
// file shows every difference. Static files are the one route served by a
// handler we do not write: the assets' own http.Handler.

// Handler returns the portal's complete HTTP handler. Every route lives in
// this one function so a reviewer sees the whole surface, and which
// middleware guards each part of it, in one place.
func (s *Server) Handler() http.Handler {
	// The conversation pages a role may use, and whose they are.
	asProvider := chi.Chain(s.requireRole(accounts.RoleProvider), s.inArea(providerArea))
	asStaff := chi.Chain(s.requireRole(accounts.RoleStaff), s.inArea(staffArea))

	r := chi.NewRouter()
	r.Use(s.outerMiddleware()...)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	// Machine endpoints: no session, no CSRF check, no page chrome.
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Handle("/static/*", s.assets)

	// Pages for people: sessions, cross-origin protection on unsafe methods,
	// the signed-in user (if any) in the context, and a query string that
	// is text (textQuery).
	r.Group(func(r chi.Router) {
		r.Use(s.crossOriginProtection, s.loadSession, s.loadUser, s.textQuery)

		// Small forms.
		r.Group(func(r chi.Router) {
			r.Use(s.limitBody(s.cfg.MaxFormBytes))
			r.Get("/", s.home)
			r.Get("/help", s.help)
			// Public, and it makes the portal probe a mail domain: limited
			// like the doors.
			r.With(s.limitDoors).Get("/tls-check", s.tlsCheck)

			// The doors: open to everyone, rate-limited per client IP.
			r.Get("/login", s.loginForm)
			r.With(s.limitDoors).Post("/login", s.login)
			r.Post("/logout", s.logout)
			// The second step of signing in, and setting up an authenticator
			// app: for a half-signed-in browser (the password was right) as
			// well as for a signed-in user.
			r.Get("/login/second-factor", s.secondFactorForm)
			r.With(s.limitDoors).Post("/login/second-factor", s.secondFactor)
			r.Get("/account/mfa/totp", s.totpSetupForm)
			r.With(s.limitDoors).Post("/account/mfa/totp", s.totpSetup)
			// Passkey sign-in (JSON, for static/js/passkeys.js).
			r.With(s.limitDoors).Post("/webauthn/login/begin", s.passkeyLoginBegin)
			r.With(s.limitDoors).Post("/webauthn/login/finish", s.passkeyLoginFinish)
			r.Get("/forgot-password", s.forgotForm)
			r.With(s.limitDoors).Post("/forgot-password", s.forgot)
			r.Group(func(r chi.Router) {
				r.Use(s.limitDoors)
				r.Get("/register/{token}", s.registerForm)
				r.Post("/register/{token}", s.register)
				r.Post("/register/{token}/new-link", s.registerNewLink)
				r.Get("/reset-password/{token}", s.resetForm)
				r.Post("/reset-password/{token}", s.reset)
			})

			// Signed-in users only.
			r.Group(func(r chi.Router) {
				r.Use(s.requireUser)
				r.Get("/account", s.account)
				r.Post("/session/keepalive", s.keepAlive)
				r.With(s.requireRole(accounts.RoleProvider)).Get("/account/profile", s.profilePage)
				r.With(s.requireRole(accounts.RoleProvider)).Post("/account/profile", s.updateProfile)
				if s.practices != nil {
					r.With(s.requireRole(accounts.RoleProvider)).Route("/practice", s.practiceRoutes)
				}
				r.With(s.requireRole(accounts.RoleStaff)).Get("/account/away", s.awayPage)
				r.With(s.requireRole(accounts.RoleStaff)).Post("/account/away", s.setAway)
				r.Get("/account/password", s.changePasswordForm)
				r.With(s.limitDoors).Post("/account/password", s.changePassword)
				r.Post("/account/sessions/end-others", s.endOtherSessions)
				r.Get("/account/mfa/recovery-codes", s.recoveryCodesForm)
				r.With(s.limitDoors).Post("/account/mfa/recovery-codes", s.newRecoveryCodes)
				r.Get("/account/mfa/off", s.turnOffForm)
				r.With(s.limitDoors).Post("/account/mfa/off", s.turnOff)
				r.Get("/account/passkeys", s.passkeysPage)
				r.Get("/account/passkeys/{id}/remove", s.removePasskeyForm)
				r.With(s.limitDoors).Post("/account/passkeys/{id}/remove", s.removePasskey)
				r.Post("/webauthn/register/begin", s.passkeyRegisterBegin)
				r.Post("/webauthn/register/finish", s.passkeyRegisterFinish)
				r.Get("/attachments/{id}", s.downloadAttachment) // scoped by viewer: provider, staff, or an admin's emergency grant
				r.With(asProvider...).Get("/inbox", s.inbox)
				r.With(asProvider...).Get("/threads/{id}", s.thread)
				r.With(asProvider...).Post("/threads/{id}/archive", s.archive)
				r.With(asProvider...).Get("/compose", s.composeForm)
				r.Route("/staff", func(r chi.Router) {
					r.Use(asStaff...)
					r.Get("/", s.inbox)
					r.Get("/threads/{id}", s.thread)
					r.Get("/compose", s.composeForm)
					r.Get("/compose/delivery", s.deliveryHint) // which way a message would go (compose's script)
					r.Get("/messages/{id}/recall", s.recallConfirm)
					r.Post("/messages/{id}/recall", s.recall)
					r.With(s.limitDoors).Post("/messages/{id}/remind", s.remind)
					r.Post("/threads/{id}/notes", s.addNote)
					r.Post("/threads/{id}/status", s.setStatus)
					r.Post("/threads/done", s.markDone)
					r.Post("/threads/read", s.markRead)
					r.Post("/threads/{id}/assign", s.assign)
					r.Get("/providers/{id}", s.providerPage)
					r.Get("/replies", s.repliesPage)
					r.Post("/replies", s.addSavedReply)
					r.Post("/replies/{id}/delete", s.deleteSavedReply)
					r.Post("/signature", s.setSignature)
					r.With(s.limitDoors).Post("/providers/{id}/registration", s.resendRegistration)
				})
				r.Route("/admin", func(r chi.Router) {
					r.Use(s.requireRole(accounts.RoleAdmin))
					r.Get("/reauth", s.reauthForm)
					r.With(s.limitDoors).Post("/reauth", s.reauth)
					r.Group(func(r chi.Router) {
						r.Use(s.requireRecentAdmin)
						r.Get("/", s.adminHome)
						r.Get("/users", s.adminUsers)
						r.Get("/users/{id}", s.adminUser)
						r.Get("/users/{id}/confirm", s.adminConfirm)
						r.Post("/users/{id}/actions", s.adminAction)
						r.Get("/users/{id}/role", s.adminRoleConfirm)
						r.Post("/users/{id}/role", s.adminRole)
						r.Get("/staff/new", s.adminStaffForm)
						r.Post("/staff", s.adminStaffCreate)
						r.Get("/teams", s.adminTeams)
						r.Post("/teams", s.adminTeamCreate)
						r.Post("/teams/{id}/members", s.adminMemberAdd)
						r.Post("/teams/{id}/members/remove", s.adminMemberRemove)
						r.Get("/teams/{id}/replies", s.adminTeamReplies)
						r.Post("/teams/{id}/replies", s.adminTeamReplyAdd)
						r.Post("/teams/{id}/replies/{reply}/delete", s.adminTeamReplyDelete)
						r.Get("/audit", s.adminAudit)
						r.Get("/audit.csv", s.adminAuditCSV)
						r.Get("/emergency", s.adminEmergency)
						r.Post("/emergency", s.adminEmergencyGrant)
						r.With(s.inArea(emergencyArea)).Get("/emergency/threads/{id}", s.thread)
						r.Get("/keys", s.adminKeys)
						r.Get("/keys/rotate", s.adminKeysRotateConfirm)
						r.Post("/keys/rotate", s.adminKeysRotate)
						r.Get("/domains", s.adminDomains)
						r.Post("/domains", s.adminDomainPolicy)
						r.Post("/domains/check", s.adminDomainCheck)
					})
				})
			})
		})

		// Messages with attachments: streamed, with the upload limit instead
		// of the form limit (a little extra for the text fields).
		r.Group(func(r chi.Router) {
			r.Use(s.limitBody(s.uploadBodyLimit()), s.requireUserOrHoldDraft)
			r.With(asProvider...).Post("/threads/{id}/reply", s.reply)
			r.With(asProvider...).Post("/compose", s.compose)
			r.With(asStaff...).Post("/staff/threads/{id}/reply", s.reply)
			r.With(asStaff...).Post("/staff/compose", s.compose)
		})
	})
	return r
}

// outerMiddleware wraps every request, matched or not. Order matters: the
// request id exists before anything logs; the access log sees the final
// status, including a recovered panic's 500; security headers are set before
// a panic could skip them; methods the portal serves nowhere are refused
// before routing, and HEAD is routed as GET.
func (s *Server) outerMiddleware() []func(http.Handler) http.Handler {
	return []func(http.Handler) http.Handler{s.requestID, s.clientIP, s.observe, s.securityHeaders, s.language, s.recoverPanic, s.knownMethods}
}
