package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/messaging"
)

// Nothing typed is lost (issue 15): a reply or a new message posted after
// the writer's session ended (the idle sign-out struck while they typed)
// is held, sealed, for draftTTL; the browser that posted it keeps the
// token in a cookie, goes to the sign-in page, and after signing in finds
// the form filled on the page it came from. Files are not held: the page
// says how many to attach again.

// draftTTL is how long such a message is held: minutes, not hours.
const draftTTL = 10 * time.Minute

// draftFields are the text fields of the message forms that a draft keeps.
var draftFields = []string{"to", "subject", "body", "expires_in"}

// maxDraftField bounds one held field (a message body is at most 50,000
// characters: up to 200 KB of UTF-8).
const maxDraftField = 256 << 10

func (s *Server) draftCookieName() string {
	if s.cfg.SecureCookies() {
		return "__Host-draft"
	}
	return "draft"
}

// requireUserOrHoldDraft is requireUser for the message forms' posts, but
// a post without a live session is held as a draft first.
func (s *Server) requireUserOrHoldDraft(next http.Handler) http.Handler {
	signedIn := s.requireUser(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := currentUser(r.Context()); ok || s.drafts == nil || !s.holdDraft(w, r) {
			signedIn.ServeHTTP(w, r)
		}
	})
}

// holdDraft holds what r posted and sends the browser to sign in; false
// when there was nothing to hold (or it could not be held: then the post
// is answered as any post without a session).
func (s *Server) holdDraft(w http.ResponseWriter, r *http.Request) bool {
	formPath, ok := draftFormPath(r.URL.Path)
	if !ok {
		return false
	}
	// Anyone may post here without a session: what is held is counted
	// against the doors' per-IP limit, so nobody fills the table.
	ip := ClientIP(r.Context()).String()
	if allowed, err := s.rateLimits.Allow(r.Context(), "doors:"+ip, s.cfg.Accounts.RatePerMinute, time.Now()); err != nil || !allowed {
		s.log.WarnContext(r.Context(), "message posted after the session ended not held: rate limit", "request_id", RequestID(r.Context()), "client_ip", ip)
		return false
	}
	fields, dropped, err := readDraftFields(r)
	if err != nil || strings.TrimSpace(fields["body"]) == "" && strings.TrimSpace(fields["subject"]) == "" {
		return false
	}
	token, err := s.drafts.Hold(r.Context(), messaging.Draft{FormPath: formPath, Fields: fields, FilesDropped: dropped}, draftTTL)
	if err != nil {
		s.log.ErrorContext(r.Context(), "message posted after the session ended could not be held", "request_id", RequestID(r.Context()), "err", err)
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: s.draftCookieName(), Value: token, Path: "/", MaxAge: int(draftTTL.Seconds()),
		Secure: s.cfg.SecureCookies(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.log.InfoContext(r.Context(), "message held until its writer signs in again", "request_id", RequestID(r.Context()), "files_dropped", dropped)
	if s.expiryReason(r) != "" {
		s.clearSignedInCookie(w)
	}
	http.Redirect(w, r, "/login?"+url.Values{"reason": {reasonDraft}, "next": {formPath}}.Encode(), http.StatusSeeOther)
	return true
}

// draftFormPath is the page of the form that posts to path: a thread for
// its reply, the compose page for a new message.
func draftFormPath(path string) (string, bool) {
	switch path {
	case "/compose", "/staff/compose":
		return path, true
	}
	thread, ok := strings.CutSuffix(path, "/reply")
	if !ok {
		return "", false
	}
	for _, prefix := range []string{"/threads/", "/staff/threads/"} {
		if id, ok := strings.CutPrefix(thread, prefix); ok && messaging.ValidID(id) {
			return thread, true
		}
	}
	return "", false
}

// errDraftTooLarge: a field over maxDraftField is not held.
var errDraftTooLarge = errors.New("web: draft field too large")

// readDraftFields reads the text fields of a message form, counting the
// files it leaves behind.
func readDraftFields(r *http.Request) (map[string]string, int, error) {
	fields := map[string]string{}
	mr, err := r.MultipartReader()
	if err != nil {
		if err := r.ParseForm(); err != nil {
			return nil, 0, err
		}
		for _, k := range draftFields {
			if v := r.PostForm.Get(k); v != "" {
				fields[k] = v
			}
		}
		return fields, 0, nil
	}
	dropped := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return fields, dropped, nil
		}
		if err != nil {
			return nil, 0, err
		}
		switch {
		case part.FileName() != "":
			dropped++
		case slices.Contains(draftFields, part.FormName()):
			b, err := io.ReadAll(io.LimitReader(part, maxDraftField+1))
			if err != nil {
				return nil, 0, err
			}
			if len(b) > maxDraftField {
				return nil, 0, errDraftTooLarge
			}
			fields[part.FormName()] = string(b)
		}
	}
}

// restoreDraft gives back the draft this browser holds for the page of r,
// once; false when there is none.
func (s *Server) restoreDraft(w http.ResponseWriter, r *http.Request) (messaging.Draft, bool) {
	c, err := r.Cookie(s.draftCookieName())
	if err != nil || s.drafts == nil {
		return messaging.Draft{}, false
	}
	d, ok, err := s.drafts.Take(r.Context(), c.Value, r.URL.Path)
	if err != nil {
		s.log.ErrorContext(r.Context(), "held message could not be given back", "request_id", RequestID(r.Context()), "err", err)
		return messaging.Draft{}, false
	}
	if ok {
		http.SetCookie(w, &http.Cookie{Name: s.draftCookieName(), Value: "", Path: "/", MaxAge: -1,
			Secure: s.cfg.SecureCookies(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	return d, ok
}

// draftNotice says why the form is filled.
func draftNotice(d messaging.Draft) string {
	n := "You were signed out before your message was sent. It was kept while you signed in again: check it below and send it."
	switch {
	case d.FilesDropped == 1:
		n += " Attach your file again: files are not kept while you are signed out."
	case d.FilesDropped > 1:
		n += " Attach your " + strconv.Itoa(d.FilesDropped) + " files again: files are not kept while you are signed out."
	}
	return n
}
