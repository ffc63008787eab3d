package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/delivery/deliverytest"
	"github.com/healthnet/secureportal/internal/mailcatcher"
)

// Test domains on a loopback Internet of the test's own (DNS, CA, MX hosts
// on 127.0.0.2, 127.0.0.3, ...): nothing real is looked up or reached.
const (
	tlsDomain     = "tls-clinic.test"     // STARTTLS with a certificate from the test CA
	plainDomain   = "plain-clinic.test"   // no STARTTLS
	selfDomain    = "self-clinic.test"    // STARTTLS with a self-signed certificate
	dropDomain    = "drop-clinic.test"    // hangs up right after STARTTLS
	expiredDomain = "expired-clinic.test" // STARTTLS with an expired certificate
)

// tlsSite is the portal in tls-first mode in such a world, with each test
// domain's MX host by name.
type tlsSite struct {
	*site
	world *deliverytest.World
	peers map[string]*deliverytest.Peer
}

func newTLSSite(t *testing.T, extra map[string]string) *tlsSite {
	t.Helper()
	w := deliverytest.NewWorld(t)
	cfgs := []deliverytest.PeerConfig{
		{Host: "mx." + tlsDomain, Mode: deliverytest.STARTTLS, Cert: w.CA.Leaf(t, "mx."+tlsDomain)},
		{Host: "mx." + plainDomain, Mode: deliverytest.NoSTARTTLS},
		{Host: "mx." + selfDomain, Mode: deliverytest.STARTTLS, Cert: deliverytest.SelfSigned(t, "mx."+selfDomain)},
		{Host: "mx." + dropDomain, Mode: deliverytest.DropAfterSTARTTLS, Cert: w.CA.Leaf(t, "mx."+dropDomain)},
		{Host: "mx." + expiredDomain, Mode: deliverytest.STARTTLS, Cert: w.CA.Expired(t, "mx."+expiredDomain)},
	}
	peers := map[string]*deliverytest.Peer{}
	for i, p := range w.StartPeers(cfgs...) {
		domain := strings.TrimPrefix(cfgs[i].Host, "mx.")
		w.MX(domain, p.Host)
		peers[domain] = p
	}
	st := w.Settings()
	vars := map[string]string{
		"PORTAL_DELIVERY_MODE":      "tls-first",
		"PORTAL_REPLY_DOMAIN":       "reply.portal.test",
		"PORTAL_DNS_RESOLVER":       st.Resolver,
		"PORTAL_DELIVERY_SMTP_PORT": strconv.Itoa(st.SMTPPort),
		"PORTAL_DELIVERY_CA_FILE":   st.CAFile,
		"PORTAL_MTA_STS_PORT":       strconv.Itoa(st.MTASTSPort),
	}
	for k, v := range extra {
		vars[k] = v
	}
	return &tlsSite{site: newSite(t, vars), world: w, peers: peers}
}

// deliveryNote waits for the staff thread page to show how its first
// message was delivered, and returns that line.
func (s *tlsSite) deliveryNote(staff *browser, threadPath string) string {
	s.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		p := staff.get(threadPath)
		if i := strings.Index(p.Body, `data-testid="delivery">`); i >= 0 {
			note := p.Body[i+len(`data-testid="delivery">`):]
			return htmlUnescape(note[:strings.Index(note, "<")])
		}
	}
	s.t.Fatalf("no delivery record on %s", threadPath)
	return ""
}

func TestStaffMessageGoesByVerifiedTLSStraightToTheProvider(t *testing.T) {
	s := newTLSSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena Ortiz", "Provider Services – Los Angeles County")
	staff := s.signedIn("rep.la@plan.example")

	// Compose says which way it will go, once the address is entered.
	contains(t, "compose page", staff.get("/staff/compose").Body, `data-url="/staff/compose/delivery"`, "delivery-hint.js")
	for to, want := range map[string]string{"dr.kim@" + tlsDomain: `{"method":"tls","text":"It will go straight to the provider's inbox over verified TLS (mx.` + tlsDomain + `)."}`,
		"office@" + plainDomain: `"method":"portal"`} {
		hint := staff.get("/staff/compose/delivery?to=" + url.QueryEscape(to))
		contains(t, "delivery hint for "+to, hint.Body, want)
	}

	pdf := bytes.Repeat([]byte(markBytes+" %PDF-1.7 \x00\xff"), 3000)
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr.kim@" + tlsDomain}, "subject": {"Lab results " + markSubject},
		"body": {markBody + "\nPlease call the member."}}, file{"lab " + markName + ".pdf", pdf})
	must(t, "compose redirects to the thread", p.Status == http.StatusSeeOther)
	note := s.deliveryNote(staff, p.Location)
	contains(t, "delivery record", note, "Delivered by TLS", "to mx."+tlsDomain, "certificate verified")

	envs := s.peers[tlsDomain].Envelopes()
	if len(envs) != 1 || !envs[0].TLS || envs[0].Data == nil {
		t.Fatalf("the provider's server got %d transactions (want 1, inside TLS)", len(envs))
	}
	m, err := mailcatcher.ParseMessage(envs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	must(t, "subject marked secure: "+m.Subject, m.Subject == "[SECURE] Lab results "+markSubject)
	contains(t, "delivered text", m.Text, markBody, "Please call the member.")
	must(t, "the attachment arrives byte for byte", len(m.Attachments) == 1 && m.Attachments[0].Filename == "lab "+markName+".pdf" &&
		bytes.Equal(m.Attachments[0].Data, pdf))
	contains(t, "headers", string(envs[0].Data), "Reply-To: <reply+", "@reply.portal.test>", "Lena Ortiz")

	// No portal notification: the message itself arrived.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := s.mail.WaitFor(ctx, func(m mailcatcher.Message) bool { return strings.Contains(strings.Join(m.To, ","), tlsDomain) }); err == nil {
		t.Error("a portal notification was sent for a message delivered by TLS")
	}
	// Recall warns that the emailed copy cannot be taken back.
	contains(t, "thread page", staff.get(p.Location).Body, `data-testid="recall-email-warning"`)
}

// A server that cannot be verified never receives a byte of the message:
// the message waits in the portal and the provider is notified.
func TestUnverifiableServersGetNoPHIAndTheMessageWaitsInThePortal(t *testing.T) {
	s := newTLSSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena Ortiz", "Provider Services – Los Angeles County")
	staff := s.signedIn("rep.la@plan.example")
	for domain, why := range map[string]string{
		plainDomain:   "offered no STARTTLS",
		selfDomain:    "mx." + selfDomain,
		dropDomain:    "mx." + dropDomain,
		expiredDomain: "expired",
	} {
		t.Run(domain, func(t *testing.T) {
			p := staff.postMessage("/staff/compose", url.Values{"to": {"office@" + domain}, "subject": {"Claim " + markSubject},
				"body": {markBody}}, file{markName + ".pdf", []byte(markBytes)})
			must(t, "compose redirects", p.Status == http.StatusSeeOther)
			note := s.deliveryNote(staff, p.Location)
			contains(t, "delivery record", note, "Waiting in the portal", why, "notification sent")
			s.mailTo("office@"+domain, "[SECURE]", "/register/")
			peer := s.peers[domain]
			for _, mark := range []string{markSubject, markBody, markName, markBytes} {
				if peer.Saw(mark) {
					t.Errorf("%s received %q", peer.Host, mark)
				}
			}
			for _, e := range peer.Envelopes() {
				if e.Data != nil {
					t.Errorf("%s received message data", peer.Host)
				}
			}
		})
	}
}

// An admin's tls-required policy holds the message without any plain-mail
// notification when TLS is not available; portal overrides a domain that
// would pass the checks.
func TestAdminDomainPolicyOverridesTheChecks(t *testing.T) {
	s := newTLSSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena Ortiz", "Provider Services – Los Angeles County")
	_, admin := s.admin("ada@plan.example")
	for domain, policy := range map[string]string{plainDomain: "tls-required", tlsDomain: "portal"} {
		p := admin.post("/admin/domains", url.Values{"domain": {domain}, "policy": {policy}, "reason": {"Agreed with the clinic's IT"}})
		must(t, "policy saved: "+strconv.Itoa(p.Status), p.Status == http.StatusSeeOther)
	}
	page := admin.get("/admin/domains")
	contains(t, "domains page", page.Body, plainDomain, "tls-required", tlsDomain, "Agreed with the clinic&#39;s IT")

	staff := s.signedIn("rep.la@plan.example")
	held := staff.postMessage("/staff/compose", url.Values{"to": {"office@" + plainDomain}, "subject": {"Claim"}, "body": {markBody}})
	contains(t, "held record", s.deliveryNote(staff, held.Location), "Held in the portal", "requires TLS, so no notification was emailed")
	portal := staff.postMessage("/staff/compose", url.Values{"to": {"office@" + tlsDomain}, "subject": {"Claim"}, "body": {markBody}})
	contains(t, "portal record", s.deliveryNote(staff, portal.Location), "Waiting in the portal", "always use the portal")
	s.mailTo("office@"+tlsDomain, "[SECURE]", "/register/")
	if len(s.peers[tlsDomain].Envelopes()) != 0 || len(s.peers[plainDomain].Envelopes()) != 0 {
		t.Error("a server was sent mail despite the admin's policy")
	}
	for _, m := range s.mail.Messages() {
		if strings.Contains(strings.Join(m.To, ","), plainDomain) {
			t.Error("a notification went by plain mail to a tls-required domain")
		}
	}
	// Missing reason: a clear message, nothing changed.
	p := admin.post("/admin/domains", url.Values{"domain": {selfDomain}, "policy": {"portal"}, "reason": {""}})
	must(t, "missing reason is refused", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Say why, for the audit log."))
}

// The public check tells a provider's IT what the portal would do and why.
func TestTLSCheckGivesTheVerdictAndReason(t *testing.T) {
	s := newTLSSite(t, nil)
	b := s.browser()
	for domain, want := range map[string][]string{
		tlsDomain:                {"Secure mail goes straight to the inbox at " + tlsDomain},
		"someone@" + plainDomain: {"wait in the portal", "offered no STARTTLS", "What to change"},
		expiredDomain:            {"wait in the portal", "expired"},
	} {
		p := b.get("/tls-check?domain=" + url.QueryEscape(domain))
		must(t, domain+": status "+strconv.Itoa(p.Status), p.Status == http.StatusOK)
		contains(t, "check of "+domain, htmlUnescape(p.Body), want...)
	}
	p := b.get("/tls-check?domain=" + url.QueryEscape("not a domain!"))
	must(t, "a bad domain gets a field error", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Enter a domain name"))
	contains(t, "help page in tls-first mode", b.get("/help").Body, "arrive in your", "regular inbox", `href="/tls-check"`)
}

func TestHelpPageTellsTheTruthInPortalOnlyMode(t *testing.T) {
	s := newSite(t, nil)
	body := s.browser().get("/help").Body
	if strings.Contains(body, "regular inbox") {
		t.Error("in portal-only mode the guide must not promise TLS mail in the regular inbox")
	}
	contains(t, "help page", body, "every message is", `href="/tls-check"`)
}
