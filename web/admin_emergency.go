package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/pages"
)

// Emergency ("break-glass") access: an admin grants themselves read-only
// access to one thread for a short time, with a reason; the grant is
// audited and highlighted in the audit log. The reading itself is the
// conversation pages in emergencyArea.

func (s *Server) emergencyView(r *http.Request, thread, reason, duration string, fe accounts.FieldErrors) (pages.AdminEmergencyView, error) {
	grants, err := s.messages.EmergencyGrants(r.Context())
	if err != nil {
		return pages.AdminEmergencyView{}, err
	}
	v := pages.AdminEmergencyView{Chrome: s.chrome(r),
		Duration: pages.Field{Name: "duration", Label: "For how long", Error: fe["duration"]},
		Thread: pages.Field{Name: "thread", Label: "Thread id", Type: "text", Value: thread, Error: fe["thread"], Autocomplete: "off",
			Hint: "The id at the end of the thread's address."},
		Reason: pages.Field{Name: "reason", Label: "Reason", Value: reason, Error: fe["reason"],
			Hint: "For example: “treating physician unreachable; member admitted to ER, records needed now”."}}
	for _, d := range messaging.EmergencyDurations {
		val := d.String()
		v.Durations = append(v.Durations, pages.Option{Value: val, Label: layout.Duration(d), Selected: val == duration})
	}
	v.Problems = pages.Problems(v.Thread, v.Reason, v.Duration)
	now := time.Now()
	for _, g := range grants {
		row := pages.EmergencyRow{Admin: g.AdminEmail, Thread: g.ThreadID, Reason: g.Reason, Granted: s.day(r.Context(), g.GrantedAt), Expires: s.day(r.Context(), g.ExpiresAt), State: "expired"}
		if g.Active(now) {
			row.State = "active"
			if me, _ := currentUser(r.Context()); me.Email == g.AdminEmail {
				row.ReadURL = emergencyArea.threadURL + g.ThreadID
			}
		}
		v.Grants = append(v.Grants, row)
	}
	return v, nil
}

func (s *Server) adminEmergency(w http.ResponseWriter, r *http.Request) {
	v, err := s.emergencyView(r, "", "", "", nil)
	s.renderBuilt(w, r, http.StatusOK, pages.AdminEmergency(v), err)
}

func (s *Server) adminEmergencyGrant(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "thread", "reason", "duration")
	if !ok {
		return
	}
	thread, reason, duration := strings.TrimSpace(f.Get("thread")), f.Get("reason"), f.Get("duration")
	d, _ := time.ParseDuration(duration)
	err := f.textErr()
	if err == nil {
		err = s.messages.GrantEmergency(r.Context(), s.viewer(r), thread, reason, d, time.Now())
	}
	if fe, ok := fieldErrors(err, "thread", "reason", "duration"); ok {
		v, verr := s.emergencyView(r, thread, reason, duration, fe)
		s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminEmergency(v), verr)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	me, _ := currentUser(r.Context())
	s.log.WarnContext(r.Context(), "emergency access granted", "request_id", RequestID(r.Context()), "admin_id", me.ID, "thread_id", thread, "duration", d)
	http.Redirect(w, r, emergencyArea.threadURL+thread, http.StatusSeeOther)
}
