package web

import (
	"net/http"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/pages"
)

// awayPage shows a representative's out of office with the form to set or
// clear it.
func (s *Server) awayPage(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r.Context())
	a, err := s.messages.AwayOf(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	from, until := "", ""
	if !a.IsZero() {
		from, until = s.localDay(a.From), s.localDay(a.Until.Add(-time.Nanosecond))
	}
	s.render(w, r, http.StatusOK, pages.Away(s.awayView(r, a, from, until, nil)))
}

// setAway sets or (both days empty) clears the out of office.
func (s *Server) setAway(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "away_from", "away_until")
	if !ok {
		return
	}
	u, _ := currentUser(r.Context())
	from, until := f.Get("away_from"), f.Get("away_until")
	a, err := s.parseAway(from, until)
	if err == nil {
		err = f.textErr()
	}
	if err == nil {
		err = s.messages.SetAway(r.Context(), s.viewer(r), a, time.Now())
	}
	if fe, bad := fieldErrors(err); bad {
		current, cerr := s.messages.AwayOf(r.Context(), u.ID)
		if cerr != nil {
			s.serverError(w, r, cerr)
			return
		}
		s.render(w, r, http.StatusUnprocessableEntity, pages.Away(s.awayView(r, current, from, until, fe)))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/account?changed=away", http.StatusSeeOther)
}

// parseAway reads the form's two days (inclusive, in the portal's time
// zone) as a period; both empty is no period.
func (s *Server) parseAway(from, until string) (messaging.Away, error) {
	if from == "" && until == "" {
		return messaging.Away{}, nil
	}
	fe := accounts.FieldErrors{}
	start, okFrom := parseDay(from, s.cfg.Location)
	end, okUntil := parseDay(until, s.cfg.Location)
	switch {
	case from == "":
		fe["away_from"] = "Enter the first day you are away."
	case !okFrom:
		fe["away_from"] = "Enter the day as year-month-day, for example 2026-12-24."
	}
	switch {
	case until == "":
		fe["away_until"] = "Enter the last day you are away."
	case !okUntil:
		fe["away_until"] = "Enter the day as year-month-day, for example 2026-12-31."
	}
	if len(fe) > 0 {
		return messaging.Away{}, fe
	}
	return messaging.Away{From: start, Until: end.AddDate(0, 0, 1)}, nil
}

func (s *Server) awayView(r *http.Request, current messaging.Away, from, until string, fe accounts.FieldErrors) pages.AwayView {
	v := pages.AwayView{Chrome: s.chrome(r), State: s.awayState(current),
		From:  pages.Field{Name: "away_from", Label: "First day away", Type: "date", Value: from, Error: fe["away_from"]},
		Until: pages.Field{Name: "away_until", Label: "Last day away", Type: "date", Value: until, Error: fe["away_until"]}}
	v.Set = !current.IsZero()
	return v
}

// awayState words an out of office for its owner.
func (s *Server) awayState(a messaging.Away) string {
	switch {
	case a.IsZero():
		return "Not set: providers' messages to your conversations come to you."
	case a.Now(time.Now()):
		return "Away until the end of " + s.localDay(a.Until.Add(-time.Nanosecond)) + ": your team is told of providers' new messages to your conversations, and they show as the team's."
	default:
		return "Away from " + s.localDay(a.From) + " to the end of " + s.localDay(a.Until.Add(-time.Nanosecond)) + "."
	}
}

// localDay is t's date in the portal's time zone, as a date input shows it.
func (s *Server) localDay(t time.Time) string { return t.In(s.cfg.Location).Format(dateLayout) }
