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
	v := s.replyForm(r, fe, title, body)
	v.AddAction = "/staff/replies"
	v.TeamField = pages.Field{Name: "team", Label: "Team", Error: fe["team"]}
	v.Signature = pages.Field{Name: "signature", Label: "Signature", Value: signature, Error: fe["signature"], MaxLength: messaging.MaxSignature}
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
	v.Replies = replyViews(list, "/staff/replies/")
	v.Problems = pages.Problems(v.Signature, v.TeamField, v.Title, v.Body)
	return v, nil
}

// replyForm is the replies page with the add form's fields (what was
// posted shown again, with its problems).
func (s *Server) replyForm(r *http.Request, fe accounts.FieldErrors, title, body string) pages.RepliesView {
	return pages.RepliesView{Chrome: s.chrome(r),
		Title: pages.Field{Name: "title", Label: "Title", Value: title, Error: fe["title"], MaxLength: messaging.MaxSavedReplyTitle,
			Hint: "What colleagues pick it by, for example “Documents received”. No patient details."},
		Body: pages.Field{Name: "body", Label: "Reply", Value: body, Error: fe["body"]}}
}

// replyViews list saved replies, each deleted at prefix+ID+"/delete".
func replyViews(list []messaging.SavedReply, prefix string) []pages.SavedReplyView {
	var out []pages.SavedReplyView
	for _, sr := range list {
		out = append(out, pages.SavedReplyView{Team: sr.TeamName, Title: sr.Title, Body: sr.Body, DeleteAction: prefix + sr.ID + "/delete"})
	}
	return out
}

// adminTeamOf is the team {id} for an admin; it answers 404 itself.
func (s *Server) adminTeamOf(w http.ResponseWriter, r *http.Request) (messaging.Team, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return messaging.Team{}, false
	}
	teams, err := s.messages.Teams(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return messaging.Team{}, false
	}
	for _, t := range teams {
		if t.ID == id {
			return t.Team, true
		}
	}
	s.notFound(w, r)
	return messaging.Team{}, false
}

// teamRepliesPage shows an admin one team's saved replies, with the add
// form holding what was posted (status: 200, or 422 with problems fe).
func (s *Server) teamRepliesPage(w http.ResponseWriter, r *http.Request, team messaging.Team, status int, fe accounts.FieldErrors, title, body string) {
	list, err := s.messages.TeamSavedReplies(r.Context(), team.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	base := "/admin/teams/" + strconv.FormatInt(team.ID, 10) + "/replies"
	v := s.replyForm(r, fe, title, body)
	v.ForTeam, v.AddAction, v.Replies = team.Name, base, replyViews(list, base+"/")
	v.Problems = pages.Problems(v.Title, v.Body)
	switch {
	case r.URL.Query().Get("added") == "1":
		v.Notice = "The reply was saved for the team."
	case r.URL.Query().Get("deleted") == "1":
		v.Notice = "The saved reply was deleted."
	}
	s.render(w, r, status, pages.Replies(v))
}

func (s *Server) adminTeamReplies(w http.ResponseWriter, r *http.Request) {
	if team, ok := s.adminTeamOf(w, r); ok {
		s.teamRepliesPage(w, r, team, http.StatusOK, nil, "", "")
	}
}

func (s *Server) adminTeamReplyAdd(w http.ResponseWriter, r *http.Request) {
	team, ok := s.adminTeamOf(w, r)
	if !ok {
		return
	}
	f, ok := s.postForm(w, r, "title", "body")
	if !ok {
		return
	}
	err := f.textErr()
	if err == nil {
		err = s.messages.AddTeamSavedReply(r.Context(), s.viewer(r), team.ID, f.Get("title"), f.Get("body"))
	}
	if fe, bad := fieldErrors(err); bad {
		s.teamRepliesPage(w, r, team, http.StatusUnprocessableEntity, fe, f.Get("title"), f.Get("body"))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/teams/"+strconv.FormatInt(team.ID, 10)+"/replies?added=1", http.StatusSeeOther)
}

func (s *Server) adminTeamReplyDelete(w http.ResponseWriter, r *http.Request) {
	team, ok := s.adminTeamOf(w, r)
	if !ok {
		return
	}
	if _, ok := s.postForm(w, r); !ok {
		return
	}
	if s.failed(w, r, s.messages.DeleteTeamSavedReply(r.Context(), s.viewer(r), team.ID, chi.URLParam(r, "reply"))) {
		return
	}
	http.Redirect(w, r, "/admin/teams/"+strconv.FormatInt(team.ID, 10)+"/replies?deleted=1", http.StatusSeeOther)
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
