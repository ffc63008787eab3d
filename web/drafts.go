package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/pages"
)

// Nothing typed is lost (issue 15): a reply or a new message posted after
// the writer's session ended (the idle sign-out struck while they typed)
// is held, sealed, with its files, for draftTTL; the browser that posted it
// keeps the token in a cookie, goes to the sign-in page, and after signing
// in finds the form filled on the page it came from, its files listed as
// kept (field kept_files) for another draftTTL: sending the form sends
// them, then destroys the kept copies.

// draftTTL is how long such a message is held: minutes, not hours.
const draftTTL = 10 * time.Minute

// draftFields are the text fields of the message forms that a draft keeps
// (kept_files: files kept from an earlier draft, still the writer's).
var draftFields = []string{"to", "subject", "body", "expires_in", "kept_files"}

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
	fields, files, err := s.readDraft(r)
	if files != nil {
		defer files.Close()
	}
	if err != nil || strings.TrimSpace(fields["body"]) == "" && strings.TrimSpace(fields["subject"]) == "" {
		return false
	}
	var uploads messaging.Uploads
	held := 0
	if files != nil {
		uploads, held = files, len(files.files)
	}
	token, err := s.drafts.Hold(r.Context(), messaging.Draft{FormPath: formPath, Fields: fields}, uploads, s.cfg.Uploads.MaxFileBytes, draftTTL)
	if err != nil {
		s.log.ErrorContext(r.Context(), "message posted after the session ended could not be held", "request_id", RequestID(r.Context()), "err", err)
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: s.draftCookieName(), Value: token, Path: "/", MaxAge: int(draftTTL.Seconds()),
		Secure: s.cfg.SecureCookies(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.log.InfoContext(r.Context(), "message held until its writer signs in again", "request_id", RequestID(r.Context()), "files", held)
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

// readDraft reads a message form posted without a session: its text
// fields, and its files spooled as for a send (the same limits: a file the
// portal would refuse is not held, and then neither is the form). A form
// that is not multipart has fields only.
func (s *Server) readDraft(r *http.Request) (map[string]string, *uploadForm, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		if err := r.ParseForm(); err != nil {
			return nil, nil, err
		}
		fields := map[string]string{}
		for _, k := range draftFields {
			if v := r.PostForm.Get(k); v != "" {
				fields[k] = v
			}
		}
		return fields, nil, nil
	}
	form, err := s.readUploadForm(r, draftFields...)
	if err != nil {
		return nil, nil, err
	}
	fields := map[string]string{}
	for _, k := range draftFields {
		if v := form.value(k); v != "" {
			fields[k] = v
		}
	}
	return fields, form, nil
}

// restoreDraft gives back the draft this browser holds for the page of r,
// once; false when there is none.
func (s *Server) restoreDraft(w http.ResponseWriter, r *http.Request) (messaging.Draft, bool) {
	c, err := r.Cookie(s.draftCookieName())
	if err != nil || s.drafts == nil {
		return messaging.Draft{}, false
	}
	u, _ := currentUser(r.Context())
	d, ok, err := s.drafts.Take(r.Context(), c.Value, r.URL.Path, u.ID, draftTTL)
	if err == nil && ok && d.Fields["kept_files"] != "" {
		// Kept from an earlier draft, and signed out again before sending.
		var earlier []messaging.KeptFile
		earlier, err = s.drafts.Kept(r.Context(), u.ID, r.URL.Path, strings.Fields(d.Fields["kept_files"]))
		d.Files = append(earlier, d.Files...)
	}
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
	if len(d.Files) > 0 {
		return "You were signed out before your message was sent. It was kept, with its files, while you signed in again: check it below and send it."
	}
	return "You were signed out before your message was sent. It was kept while you signed in again: check it below and send it."
}

// keptView lists kept files for a form (the files and the hidden field
// that sends them).
func keptView(files []messaging.KeptFile) pages.KeptFiles {
	var v pages.KeptFiles
	var ids []string
	for _, f := range files {
		v.Names = append(v.Names, f.Name+" ("+humanBytes(f.Size)+")")
		ids = append(ids, f.ID)
	}
	v.IDs = strings.Join(ids, " ")
	return v
}

// errKeptGone: the form names kept files that are no longer there (sent
// already, or past their time).
var errKeptGone = errors.New("web: kept files gone")

// withKept is the files of a message form, after the files kept for it
// (field kept_files) when there are: they are sent first, in their order.
// Close it after the send; release destroys the kept copies once the
// message is stored.
type withKept struct {
	s      *Server
	r      *http.Request
	userID int64
	kept   []messaging.KeptFile
	next   int
	open   io.Closer
	rest   messaging.Uploads
}

// keptFor opens the kept files the form names for the viewer; an id that
// is not theirs, or is gone, fails the send with errKeptGone.
func (s *Server) keptFor(r *http.Request, form *uploadForm) (*withKept, error) {
	u, _ := currentUser(r.Context())
	w := &withKept{s: s, r: r, userID: u.ID, rest: form}
	ids := strings.Fields(form.value("kept_files"))
	if len(ids) == 0 || s.drafts == nil {
		return w, nil
	}
	formPath, _ := draftFormPath(r.URL.Path)
	kept, err := s.drafts.Kept(r.Context(), u.ID, formPath, ids)
	if err != nil {
		return nil, err
	}
	if len(kept) != len(ids) {
		return nil, errKeptGone
	}
	w.kept = kept
	return w, nil
}

func (w *withKept) Next() (messaging.Upload, error) {
	w.Close()
	if w.next == len(w.kept) {
		return w.rest.Next()
	}
	f := w.kept[w.next]
	w.next++
	body, err := w.s.drafts.OpenKept(w.r.Context(), w.userID, f.ID)
	if err != nil {
		return messaging.Upload{}, err
	}
	w.open = body
	return messaging.Upload{Name: f.Name, Body: body}, nil
}

// Close closes the kept file being read, if any.
func (w *withKept) Close() {
	if w.open != nil {
		w.open.Close()
		w.open = nil
	}
}

// release destroys the kept copies, the message being stored; a failure
// is logged (they expire with draftTTL anyway).
func (w *withKept) release() {
	if len(w.kept) == 0 {
		return
	}
	ids := make([]string, len(w.kept))
	for i, f := range w.kept {
		ids[i] = f.ID
	}
	if err := w.s.drafts.Release(w.r.Context(), w.userID, ids); err != nil {
		w.s.log.WarnContext(w.r.Context(), "kept files not destroyed after sending; they expire on their own", "request_id", RequestID(w.r.Context()), "err", err)
	}
}
