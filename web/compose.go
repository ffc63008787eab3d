package web

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/pages"
)

// composeView builds the new-message form of r's area with the values and
// problems of a previous attempt.
func (s *Server) composeView(r *http.Request, to, subject, body string, fe messaging.FieldErrors) (pages.ComposeView, error) {
	a := areaOf(r)
	v := pages.ComposeView{Chrome: s.chromeWithUploads(r), Action: a.composeURL, Staff: a.staff, Limits: s.uploadLimits(r.Context()),
		Subject: pages.Field{Name: "subject", Label: "Subject", Type: "text", Value: subject, Error: fe["subject"], MaxLength: 200,
			Hint: "Recipients see it only inside the portal, never in the notification email."},
		Body: pages.Field{Name: "body", Label: "Message", Value: body, Error: fe["body"]},
	}
	if a.staff {
		v.Title = "New secure message to a provider"
		v.To = pages.Field{Name: "to", Label: "Provider's email address", Type: "email", Value: to, Error: fe["to"], Autocomplete: "off", MaxLength: 254,
			Hint: "If the provider has not used Secure Messaging before, they get a link to register."}
		v.Expiry = []pages.Option{{Value: "", Label: "Keep it (standard retention)"}}
		for _, d := range messaging.ExpiryChoices {
			v.Expiry = append(v.Expiry, pages.Option{Value: strconv.Itoa(d), Label: "Delete it after " + strconv.Itoa(d) + " days"})
		}
		v.ExpiresIn = pages.Field{Name: "expires_in", Label: "Keep the message", Error: fe["expires_in"]}
		v.DeliveryHintURL = "/staff/compose/delivery"
		v.Chrome.ScriptURLs = append(v.Chrome.ScriptURLs, s.assets.URL("js/delivery-hint.js"))
	} else {
		v.Title = "New secure message"
		v.To = pages.Field{Name: "to", Label: "To", Error: fe["to"], Hint: "The representative you work with, or your county's Provider Services team."}
		v.Recipients = []pages.Option{{Value: "", Label: "Choose…"}}
		recipients, err := s.messages.Recipients(r.Context(), s.viewer(r))
		if err != nil {
			return v, err
		}
		for _, rc := range recipients {
			v.Recipients = append(v.Recipients, pages.Option{Value: rc.Key, Label: rc.Name + " — " + rc.Description, Selected: rc.Key == to})
		}
	}
	v.Problems = pages.Problems(v.To, v.Subject, v.Body, v.ExpiresIn)
	return v, nil
}

// composeForm is the empty new-message form (?to= fills in the recipient).
func (s *Server) composeForm(w http.ResponseWriter, r *http.Request) {
	d, kept := s.restoreDraft(w, r)
	to := r.URL.Query().Get("to")
	if kept {
		to = d.Fields["to"]
	}
	v, err := s.composeView(r, to, d.Fields["subject"], d.Fields["body"], nil)
	if kept {
		v.Notice, v.Kept = draftNotice(d), keptView(d.Files)
		for i := range v.Expiry {
			v.Expiry[i].Selected = v.Expiry[i].Value == d.Fields["expires_in"]
		}
	}
	s.renderBuilt(w, r, http.StatusOK, pages.Compose(v), err)
}

// compose starts a thread with the viewer's first message: a provider
// writes to a representative or team they may reach, staff to a provider.
func (s *Server) compose(w http.ResponseWriter, r *http.Request) {
	a := areaOf(r)
	fields := []string{"to", "subject", "body", "kept_files"}
	if a.staff {
		fields = append(fields, "expires_in")
	}
	form, err := s.readUploadForm(r, fields...)
	if err != nil {
		s.uploadFailed(w, r, err)
		return
	}
	defer form.Close()
	files, err := s.keptFor(r, form)
	if err != nil {
		s.uploadFailed(w, r, err)
		return
	}
	defer files.Close()
	to, subject, body := form.value("to"), form.value("subject"), form.value("body")
	var id string
	err = form.textErr()
	switch {
	case err != nil: // a field that is not text: shown beside it below, the domain not asked
	case a.staff:
		days, _ := strconv.Atoi(form.value("expires_in"))
		id, err = s.messages.StartToProvider(r.Context(), s.viewer(r), to, subject, body, days, files)
	default:
		id, err = s.messages.StartFromProvider(r.Context(), s.viewer(r), to, subject, body, files)
	}
	if fe, ok := fieldErrors(err, "to", "subject", "body", "expires_in"); ok {
		v, verr := s.composeView(r, to, subject, body, fe)
		v.Kept = keptView(files.kept)
		s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.Compose(v), verr)
		return
	}
	if err != nil {
		s.uploadFailed(w, r, err)
		return
	}
	files.release()
	s.log.InfoContext(r.Context(), "thread started", "request_id", RequestID(r.Context()), "thread_id", id)
	http.Redirect(w, r, a.threadURL+id+"?sent=1", http.StatusSeeOther)
}

// recallConfirm asks before a message is withdrawn: it cannot be undone.
func (s *Server) recallConfirm(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	rt, err := s.messages.RecallTarget(r.Context(), s.viewer(r), id)
	if s.failed(w, r, err) {
		return
	}
	s.render(w, r, http.StatusOK, pages.RecallConfirm(pages.RecallConfirmView{Chrome: s.chrome(r), Action: "/staff/messages/" + id + "/recall",
		ThreadURL: staffArea.threadURL + rt.ThreadID, OnlyMessage: rt.OnlyMessage, SentByEmail: rt.SentByEmail}))
}

// recall destroys a message the representative sent (crypto-shredding).
func (s *Server) recall(w http.ResponseWriter, r *http.Request) {
	threadID, err := s.messages.Recall(r.Context(), s.viewer(r), chi.URLParam(r, "id"))
	if s.failed(w, r, err) {
		return
	}
	s.log.InfoContext(r.Context(), "message recalled", "request_id", RequestID(r.Context()), "thread_id", threadID)
	http.Redirect(w, r, staffArea.threadURL+threadID, http.StatusSeeOther)
}
