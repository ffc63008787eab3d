package web

import (
	"net/http"

	"golang.org/x/text/language"

	"github.com/healthnet/secureportal/internal/i18n"
)

// langCookie remembers the language chosen with ?lang= (issue 15).
const langCookie = "lang"

// language puts the request's language in its context (i18n.T reads it):
// ?lang=es|en (remembered in a cookie for a year), else the cookie, else
// the browser's Accept-Language; English when nothing says otherwise.
// It carries no secret, so the cookie is readable only by the portal
// (HttpOnly) for tidiness, not for safety.
func (s *Server) language(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag, chosen := i18n.Parse(r.URL.Query().Get("lang"))
		switch {
		case chosen:
			s.rememberLanguage(w, tag)
		default:
			if c, err := r.Cookie(langCookie); err == nil {
				tag, chosen = i18n.Parse(c.Value)
			}
			if !chosen {
				tag = i18n.FromAcceptLanguage(r.Header.Get("Accept-Language"))
			}
		}
		w.Header().Add("Content-Language", i18n.Code(tag))
		next.ServeHTTP(w, r.WithContext(i18n.With(r.Context(), tag)))
	})
}

// rememberLanguage sets the language cookie for a year.
func (s *Server) rememberLanguage(w http.ResponseWriter, tag language.Tag) {
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: i18n.Code(tag), Path: "/", MaxAge: 365 * 24 * 3600,
		Secure: s.cfg.SecureCookies(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
}
