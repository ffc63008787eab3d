package web

import (
	"net/http"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/i18n"
	"github.com/healthnet/secureportal/templates/pages"
)

// languageName is the name of a preferred language's code ("" if none).
func languageName(code string) string {
	for _, l := range accounts.Languages {
		if l.Code == code {
			return l.Name
		}
	}
	return ""
}

// profileForm is a provider's profile form, filled with p.
func (s *Server) profileForm(r *http.Request, p accounts.Profile, fe accounts.FieldErrors) pages.ProfileFormView {
	v := pages.ProfileFormView{Chrome: s.chrome(r),
		Name: pages.Field{Name: "name", Label: "Your name", Type: "text", Value: p.Name, Error: fe["name"], Autocomplete: "name", MaxLength: 200,
			Hint: i18n.Tf(r.Context(), "As it should appear to %s, for example “Dr. Priya Shah” or “Harbor Pediatrics front desk”.", s.cfg.Org.Name)},
		Practice: pages.Field{Name: "practice", Label: "Practice (optional)", Type: "text", Value: p.Practice, Error: fe["practice"], Autocomplete: "organization", MaxLength: 200},
		Phone: pages.Field{Name: "phone", Label: "Phone (optional)", Type: "tel", Value: p.Phone, Error: fe["phone"], Autocomplete: "tel", MaxLength: 40,
			Hint: "Where a representative can call back, for example (619) 555-0142 ext. 12."},
		Language: pages.Field{Name: "language", Label: "Language you prefer to read in", Error: fe["language"]},
		Notify:   pages.Field{Name: "notify", Label: "Emails about new messages", Error: fe["notify"]}, NotifyDaily: p.Notify == accounts.NotifyDaily}
	for _, l := range accounts.Languages {
		v.Languages = append(v.Languages, pages.Option{Value: l.Code, Label: l.Name, Selected: l.Code == p.Language})
	}
	return v
}

func (s *Server) profilePage(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r.Context())
	p, err := s.accounts.Profile(r.Context(), u)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, pages.ProfileForm(s.profileForm(r, p, nil)))
}

func (s *Server) updateProfile(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "name", "practice", "phone", "language", "notify")
	if !ok {
		return
	}
	u, _ := currentUser(r.Context())
	p := accounts.Profile{Name: f.Get("name"), Practice: f.Get("practice"), Phone: f.Get("phone"), Language: f.Get("language"), Notify: f.Get("notify")}
	err := f.textErr()
	if err == nil {
		err = s.accounts.UpdateProfile(r.Context(), u, p, ClientIP(r.Context()).String())
	}
	if fe, bad := fieldErrors(err); bad {
		s.render(w, r, http.StatusUnprocessableEntity, pages.ProfileForm(s.profileForm(r, p, fe)))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// The language chosen here is the portal's from now on, in this browser
	// as in the emails.
	if tag, ok := i18n.Parse(p.Language); ok {
		s.rememberLanguage(w, tag)
	}
	http.Redirect(w, r, "/account?changed=profile", http.StatusSeeOther)
}

// notifyWords say a profile's choice of notification.
func notifyWords(choice string) string {
	if choice == accounts.NotifyDaily {
		return "One a day, saying how many messages wait"
	}
	return "One for every new message"
}
