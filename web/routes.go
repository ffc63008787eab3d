package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
)

// Handler returns the portal's complete HTTP handler. Every route lives in
// this one function so a reviewer sees the whole surface, and which
// middleware guards each part of it, in one place.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.outerMiddleware()...)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	// Machine endpoints: no session, no CSRF check, no page chrome.
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Handle("/static/*", s.assets)

	// Pages for people: sessions, cross-origin protection on unsafe methods,
	// and the signed-in user (if any) in the context.
	r.Group(func(r chi.Router) {
		r.Use(s.crossOriginProtection, s.sessions.LoadAndSave, s.loadUser)

		// Small forms.
		r.Group(func(r chi.Router) {
			r.Use(s.limitBody(s.cfg.MaxFormBytes))
			r.Get("/", s.home)
			r.Get("/help", s.help)

			// The doors: open to everyone, rate-limited per client IP.
			r.Get("/login", s.loginForm)
			r.With(s.limitDoors).Post("/login", s.login)
			r.Post("/logout", s.logout)
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
				r.Get("/account/password", s.changePasswordForm)
				r.With(s.limitDoors).Post("/account/password", s.changePassword)
				r.Post("/account/sessions/end-others", s.endOtherSessions)
				r.Get("/attachments/{id}", s.downloadAttachment) // scoped by viewer: provider, staff, or an admin's emergency grant
				r.With(s.requireRole(accounts.RoleProvider)).Get("/inbox", providerArea.inbox(s))
				r.With(s.requireRole(accounts.RoleProvider)).Get("/threads/{id}", providerArea.thread(s))
				r.With(s.requireRole(accounts.RoleProvider)).Get("/compose", providerArea.composeForm(s))
				r.Route("/staff", func(r chi.Router) {
					r.Use(s.requireRole(accounts.RoleStaff))
					r.Get("/", staffArea.inbox(s))
					r.Get("/threads/{id}", staffArea.thread(s))
					r.Get("/compose", staffArea.composeForm(s))
					r.Post("/messages/{id}/recall", s.recall)
				})
				r.Route("/admin", func(r chi.Router) {
					r.Use(s.requireRole(accounts.RoleAdmin))
					r.Get("/reauth", s.reauthForm)
					r.With(s.limitDoors).Post("/reauth", s.reauth)
					r.Group(func(r chi.Router) {
						r.Use(s.requireRecentAdmin)
						r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/admin/users", http.StatusSeeOther) })
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
						r.Post("/teams/{id}/members", s.adminMembership(true))
						r.Post("/teams/{id}/members/remove", s.adminMembership(false))
						r.Get("/audit", s.adminAudit)
						r.Get("/audit.csv", s.adminAuditCSV)
						r.Get("/emergency", s.adminEmergency)
						r.Post("/emergency", s.adminEmergencyGrant)
						r.Get("/emergency/threads/{id}", emergencyArea.thread(s))
						r.Get("/keys", s.adminKeys)
						r.Get("/keys/rotate", s.adminKeysRotateConfirm)
						r.Post("/keys/rotate", s.adminKeysRotate)
					})
				})
			})
		})

		// Messages with attachments: streamed, with the upload limit instead
		// of the form limit (a little extra for the text fields).
		r.Group(func(r chi.Router) {
			r.Use(s.requireUser, s.limitBody(s.cfg.Uploads.MaxMessageBytes+2<<20))
			r.With(s.requireRole(accounts.RoleProvider)).Post("/threads/{id}/reply", providerArea.reply(s))
			r.With(s.requireRole(accounts.RoleProvider)).Post("/compose", providerArea.compose(s))
			r.With(s.requireRole(accounts.RoleStaff)).Post("/staff/threads/{id}/reply", staffArea.reply(s))
			r.With(s.requireRole(accounts.RoleStaff)).Post("/staff/compose", staffArea.compose(s))
		})
	})
	return r
}

// outerMiddleware wraps every request, matched or not. Order matters: the
// request id exists before anything logs; the access log sees the final
// status, including a recovered panic's 500; security headers are set before
// a panic could skip them.
func (s *Server) outerMiddleware() []func(http.Handler) http.Handler {
	return []func(http.Handler) http.Handler{s.requestID, s.clientIP, s.observe, s.securityHeaders, s.recoverPanic}
}
