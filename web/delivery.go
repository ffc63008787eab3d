package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/pages"
)

// DeliveryAdmin is what the TLS check and the admins' domains page need:
// the per-domain decision (cached, or checked again) and the policies.
type DeliveryAdmin interface {
	Decide(ctx context.Context, domain string) (delivery.Decision, error)
	Recheck(ctx context.Context, domain string) (delivery.Decision, error)
	Domains(ctx context.Context) ([]delivery.DomainStatus, error)
	SetDomainPolicy(ctx context.Context, actorID int64, ip, domain string, p delivery.Policy, reason string) error
}

// domainField is the domain input of both pages (field name "domain",
// DESIGN.md §8). An email address is accepted and its domain used.
func domainField(value, problem string) pages.Field {
	return pages.Field{Name: "domain", Label: "Email domain", Type: "text", Value: value, Error: problem, Required: true,
		Hint: "The part of your email address after the @, for example clinic.example", Autocomplete: "off", MaxLength: 253}
}

// parseDomain normalises what was typed into a domain, or says what is wrong.
func parseDomain(typed string) (string, string) {
	typed = strings.TrimSpace(typed)
	if at := strings.LastIndexByte(typed, '@'); at >= 0 {
		typed = typed[at+1:]
	}
	if typed == "" {
		return "", "Enter a domain, such as clinic.example."
	}
	d, err := delivery.NormalizeDomain(typed)
	if err != nil {
		return "", "Enter a domain name such as clinic.example: letters, digits, hyphens and dots."
	}
	return d, ""
}

// tlsCheck is the public readiness check for a provider's IT: what the
// portal would do for their domain, each step, and what to change.
func (s *Server) tlsCheck(w http.ResponseWriter, r *http.Request) {
	typed := r.URL.Query().Get("domain")
	v := pages.TLSCheckView{Chrome: s.chrome(r), Domain: domainField(typed, ""), OrgName: s.cfg.Org.Name, TLSFirst: s.cfg.Delivery.TLSFirst()}
	if !r.URL.Query().Has("domain") {
		s.render(w, r, http.StatusOK, pages.TLSCheck(v))
		return
	}
	domain, problem := parseDomain(typed)
	problem = cmp.Or(queryProblems(r)["domain"], problem)
	if problem != "" {
		v.Domain.Error = problem
		s.render(w, r, http.StatusUnprocessableEntity, pages.TLSCheck(v))
		return
	}
	d, err := s.delivery.Decide(r.Context(), domain)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	c := s.domainCheck(d)
	v.Result = &c
	s.render(w, r, http.StatusOK, pages.TLSCheck(v))
}

// domainCheck puts a decision in the words both pages use.
func (s *Server) domainCheck(d delivery.Decision) pages.DomainCheck {
	c := pages.DomainCheck{Domain: d.Domain, Direct: d.Method == delivery.MethodTLS, Reason: d.Reason, Advice: d.Advice}
	switch {
	case c.Direct:
		c.Verdict = "Secure mail goes straight to the inbox at " + d.Domain
		if !s.cfg.Delivery.TLSFirst() {
			c.Verdict = d.Domain + " is ready to receive secure mail directly"
		}
	case !d.NotifyAllowed:
		c.Verdict = "Messages to " + d.Domain + " wait in the portal, without an email notification"
	default:
		c.Verdict = "Messages to " + d.Domain + " wait in the portal; you get an email with a link"
	}
	for _, st := range d.Steps {
		c.Steps = append(c.Steps, pages.CheckStep{Name: st.Name, OK: st.OK, Detail: st.Detail})
	}
	if !d.CheckedAt.IsZero() {
		c.Checked, _ = s.formatTime(context.Background(), d.CheckedAt) // staff and admin pages: English
	}
	return c
}

var policyOptions = []struct{ value, label string }{
	{string(delivery.PolicyTLSPreferred), "TLS preferred: straight to the inbox when the checks pass (default)"},
	{string(delivery.PolicyTLSRequired), "TLS required: otherwise hold in the portal, no email notification"},
	{string(delivery.PolicyPortal), "Portal: always hold in the portal (e.g. consumer mail services)"},
}

func (s *Server) domainsView(r *http.Request, domain, policy, reason string, fe map[string]string) (pages.AdminDomainsView, error) {
	v := pages.AdminDomainsView{Chrome: s.chrome(r), Notice: r.URL.Query().Get("notice"), TLSFirst: s.cfg.Delivery.TLSFirst(),
		Domain: domainField(domain, fe["domain"]),
		Policy: pages.Field{Name: "policy", Label: "Policy", Value: policy, Error: fe["policy"]},
		Reason: pages.Field{Name: "reason", Label: "Reason (kept in the audit log)", Type: "text", Value: reason, Error: fe["reason"], Required: true, MaxLength: 500}}
	for _, o := range policyOptions {
		v.Policies = append(v.Policies, pages.Option{Value: o.value, Label: o.label, Selected: o.value == policy})
	}
	v.Problems = pages.Problems(v.Domain, v.Policy, v.Reason)
	rows, err := s.delivery.Domains(r.Context())
	if err != nil {
		return v, err
	}
	for _, d := range rows {
		row := pages.DomainRow{Domain: d.Domain, Policy: string(d.Policy), Reason: d.Reason}
		if d.Policy == "" {
			row.Policy = string(delivery.PolicyTLSPreferred) + " (default)"
		} else {
			row.UpdatedAt = s.day(r.Context(), d.UpdatedAt)
		}
		if d.Check != nil {
			c := s.domainCheck(*d.Check)
			row.Check = &c
		}
		v.Rows = append(v.Rows, row)
	}
	return v, nil
}

func (s *Server) adminDomains(w http.ResponseWriter, r *http.Request) {
	v, err := s.domainsView(r, "", string(delivery.PolicyTLSPreferred), "", nil)
	s.renderBuilt(w, r, http.StatusOK, pages.AdminDomains(v), err)
}

// adminDomainPolicy sets a domain's policy; the reason goes to the audit log
// with the change.
func (s *Server) adminDomainPolicy(w http.ResponseWriter, r *http.Request) {
	form, ok := s.postForm(w, r, "domain", "policy", "reason")
	if !ok {
		return
	}
	typed, policy, reason := form.Get("domain"), form.Get("policy"), strings.TrimSpace(form.Get("reason"))
	if form.notText != nil {
		v, err := s.domainsView(r, typed, policy, reason, form.notText)
		s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminDomains(v), err)
		return
	}
	fe := map[string]string{}
	domain, problem := parseDomain(typed)
	if problem != "" {
		fe["domain"] = problem
	}
	p, err := delivery.ParsePolicy(policy)
	if err != nil || policy == "" {
		fe["policy"] = "Choose one of the listed policies."
	}
	switch {
	case reason == "":
		fe["reason"] = "Say why, for the audit log."
	case utf8.RuneCountInString(reason) > 500 || strings.IndexFunc(reason, unicode.IsControl) >= 0:
		fe["reason"] = "Use at most 500 printable characters."
	}
	if len(fe) > 0 {
		v, err := s.domainsView(r, typed, policy, reason, fe)
		s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminDomains(v), err)
		return
	}
	u, _ := currentUser(r.Context())
	if err := s.delivery.SetDomainPolicy(r.Context(), u.ID, ClientIP(r.Context()).String(), domain, p, reason); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "domain policy set", "request_id", RequestID(r.Context()), "domain", domain, "policy", p, "admin_id", u.ID)
	http.Redirect(w, r, "/admin/domains?"+url.Values{"notice": {domain + " is now " + string(p) + "."}}.Encode(), http.StatusSeeOther)
}

// adminDomainCheck checks a domain again now instead of waiting for the
// cached outcome to expire (after the provider's IT fixed something).
func (s *Server) adminDomainCheck(w http.ResponseWriter, r *http.Request) {
	form, ok := s.postForm(w, r, "domain")
	if !ok {
		return
	}
	domain, problem := parseDomain(form.Get("domain"))
	problem = cmp.Or(form.notText["domain"], problem)
	if problem != "" {
		v, err := s.domainsView(r, form.Get("domain"), string(delivery.PolicyTLSPreferred), "", map[string]string{"domain": problem})
		s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminDomains(v), err)
		return
	}
	d, err := s.delivery.Recheck(r.Context(), domain)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/domains?"+url.Values{"notice": {domain + ": " + d.Reason}}.Encode(), http.StatusSeeOther)
}

// deliveryNotes puts a message's delivery records in words for staff, and
// says whether a copy left by email (which recall cannot take back).
func (s *Server) deliveryNotes(ds []messaging.Delivery) (notes []string, byEmail bool) {
	for _, d := range ds {
		when, _ := s.formatTime(context.Background(), d.At) // staff only: English
		switch {
		case d.Method == string(delivery.MethodTLS):
			byEmail = true
			notes = append(notes, fmt.Sprintf("Delivered by %s to %s, certificate verified (%s), %s", cmp.Or(d.TLSVersion, "TLS"), d.MX, d.VerifiedBy, when))
		case d.Notified:
			notes = append(notes, fmt.Sprintf("Waiting in the portal: %s; notification sent %s", d.Reason, when))
		default:
			notes = append(notes, fmt.Sprintf("Held in the portal: %s, %s", d.Reason, when))
		}
	}
	return notes, byEmail
}

// deliveryHint answers staff compose's question "which way will a message
// to this address go?" as JSON {method, text}, from the same decision the
// delivery job makes (cached per domain).
func (s *Server) deliveryHint(w http.ResponseWriter, r *http.Request) {
	domain, problem := parseDomain(r.URL.Query().Get("to"))
	hint := struct {
		Method string `json:"method"`
		Text   string `json:"text"`
	}{Method: string(delivery.MethodPortal)}
	switch {
	case problem != "":
		hint.Method, hint.Text = "", ""
	case !s.cfg.Delivery.TLSFirst():
		hint.Text = "It will wait in the portal; the provider gets an email with a link."
	default:
		d, err := s.delivery.Decide(r.Context(), domain)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		hint.Method = string(d.Method)
		switch {
		case d.Method == delivery.MethodTLS:
			hint.Text = "It will go straight to the provider's inbox over verified TLS (" + d.MX + ")."
		case !d.NotifyAllowed:
			hint.Text = "It will wait in the portal without an email notification: " + d.Reason + "."
		default:
			hint.Text = "It will wait in the portal; the provider gets an email with a link (" + d.Reason + ")."
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(hint)
}
