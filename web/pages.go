package web

import (
	"context"
	"errors"
	"github.com/healthnet/secureportal/internal/i18n"
	"net/http"
	"time"

	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/pages"
)

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if u, ok := currentUser(r.Context()); ok {
		http.Redirect(w, r, homeFor(u), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, pages.Home(pages.HomeView{Chrome: s.chrome(r), OrgName: s.cfg.Org.Name}))
}

func (s *Server) help(w http.ResponseWriter, r *http.Request) {
	c := s.chrome(r)
	v := pages.HelpView{Chrome: c, OrgName: s.cfg.Org.Name, Contacts: c.Contacts,
		ResetLinkValid: layout.Duration(s.cfg.Accounts.ResetTTL), TLSFirst: s.cfg.Delivery.TLSFirst()}
	if i18n.Lang(r.Context()) == i18n.Spanish {
		s.render(w, r, http.StatusOK, pages.HelpES(v))
		return
	}
	s.render(w, r, http.StatusOK, pages.Help(v))
}

// healthz answers while the process is alive; it touches nothing else, so a
// database outage does not make the orchestrator restart healthy processes.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readyz answers 200 only when the database is reachable and its schema is
// what this binary expects, so a load balancer sends no traffic before then.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("draining\n"))
		return
	}
	if err := s.readiness.Ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(notReadyReason(err) + "\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

// notReadyReason is the part of a readiness error that is safe to show on a
// public port: the store says it through a Reason method (as net.Error says
// Timeout), and the cause stays in the log.
func notReadyReason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return "not ready"
}
