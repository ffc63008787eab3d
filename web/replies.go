package web

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/pages"
)

// repliesPage lists the representative's teams' saved replies, with the
// forms to add one and to set their signature.
func (s *Server) repliesPage(w http.ResponseWriter, r *http.Request) {
	v, err := s.repliesView(r, nil, "", "", "")
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	switch {
	case r.URL.Query().Get("added") == "1":
		v.Notice = "The reply was saved for your team."
	case r.URL.Query().Get("deleted") == "1":
		v.Notice = "The saved reply was deleted."
	case r.URL.Query().Get("signature") == "saved":
		v.Notice = "Your signature was saved."
	}
	s.render(w, r, http.StatusOK, pages.Replies(v))
}

// repliesView is the page with what a form posted shown again (title,
// body: a saved reply's; signature when that form was posted).
func (s *Server) repliesView(r *http.Request, fe accounts.FieldErrors, title, body, signature string) (pages.RepliesView, error) {
	u, _ := currentUser(r.Context())
	v := pages.RepliesView{Chrome: s.chrome(r),
		TeamField: pages.Field{Name: "team", Label: "Team", Error: fe["team"]},
		Title: pages.Field{Name: "title", Label: "Title", Value: title, Error: fe["title"], MaxLength: messaging.MaxSavedReplyTitle,
			Hint: "What colleagues pick it by, for example “Documents received”. No patient details."},
		Body:      pages.Field{Name: "body", Label: "Reply", Value: body, Error: fe["body"]},
		Signature: pages.Field{Name: "signature", Label: "Signature", Value: signature, Error: fe["signature"], MaxLength: messaging.MaxSignature}}
	if _, posted := fe["signature"]; !posted {
		sig, err := s.messages.Signature(r.Context(), u.ID)
		if err != nil {
			return v, err
		}
		v.Signature.Value = sig
	}
	teams, err := s.messages.TeamsOf(r.Context(), u.ID)
	if err != nil {
		return v, err
	}
	for _, t := range teams {
		v.Teams = append(v.Teams, pages.Option{Value: strconv.FormatInt(t.ID, 10), Label: t.Name, Selected: r.PostForm.Get("team") == strconv.FormatInt(t.ID, 10)})
	}
	list, err := s.messages.SavedReplies(r.Context(), s.viewer(r))
	if err != nil {
		return v, err
	}
	for _, sr := range list {
		v.Replies = append(v.Replies, pages.SavedReplyView{Team: sr.TeamName, Title: sr.Title, Body: sr.Body, DeleteAction: "/staff/replies/" + sr.ID + "/delete"})
	}
	v.Problems = pages.Problems(v.Signature, v.TeamField, v.Title, v.Body)
	return v, nil
}

// addSavedReply saves a ready answer for one of the representative's teams.
func (s *Server) addSavedReply(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "team", "title", "body")
	if !ok {
		return
	}
	err := f.textErr()
	if err == nil {
		team, _ := strconv.ParseInt(f.Get("team"), 10, 64)
		err = s.messages.AddSavedReply(r.Context(), s.viewer(r), team, f.Get("title"), f.Get("body"))
	}
	s.afterRepliesForm(w, r, err, "/staff/replies?added=1", f.Get("title"), f.Get("body"), "")
}

// deleteSavedReply removes one of the teams' saved replies.
func (s *Server) deleteSavedReply(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.postForm(w, r); !ok {
		return
	}
	if s.failed(w, r, s.messages.DeleteSavedReply(r.Context(), s.viewer(r), chi.URLParam(r, "id"))) {
		return
	}
	http.Redirect(w, r, "/staff/replies?deleted=1", http.StatusSeeOther)
}

// setSignature sets (or, empty, clears) the representative's signature.
func (s *Server) setSignature(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "signature")
	if !ok {
		return
	}
	err := f.textErr()
	if err == nil {
		err = s.messages.SetSignature(r.Context(), s.viewer(r), f.Get("signature"))
	}
	s.afterRepliesForm(w, r, err, "/staff/replies?signature=saved", "", "", f.Get("signature"))
}

// afterRepliesForm answers a form of the replies page: its problems on the
// page again (422), or on to done.
func (s *Server) afterRepliesForm(w http.ResponseWriter, r *http.Request, err error, done, title, body, signature string) {
	if fe, bad := fieldErrors(err); bad {
		v, verr := s.repliesView(r, fe, title, body, signature)
		if verr != nil {
			s.serverError(w, r, verr)
			return
		}
		s.render(w, r, http.StatusUnprocessableEntity, pages.Replies(v))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, done, http.StatusSeeOther)
}

// replyStart fills the staff reply box when nothing was posted: the chosen
// saved reply (query saved), then the signature; and offers the team's
// saved replies.
func (s *Server) replyStart(r *http.Request, v *pages.ThreadView, threadURL string) error {
	list, err := s.messages.SavedReplies(r.Context(), s.viewer(r))
	if err != nil {
		return err
	}
	u, _ := currentUser(r.Context())
	sig, err := s.messages.Signature(r.Context(), u.ID)
	if err != nil {
		return err
	}
	chosen := r.URL.Query().Get("saved")
	text := ""
	for _, sr := range list {
		v.SavedReplies = append(v.SavedReplies, pages.Option{Value: sr.ID, Label: sr.Title + " (" + sr.TeamName + ")", Selected: sr.ID == chosen})
		if sr.ID == chosen {
			text = sr.Body
		}
	}
	v.SavedAction = threadURL + "#reply-title"
	if v.Reply.Value == "" {
		if sig != "" {
			text += "\n\n" + sig
		}
		v.Reply.Value = text
	}
	return nil
}
