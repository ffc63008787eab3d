package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"mime/multipart"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/healthnet/secureportal/internal/delivery/deliverytest"
	"github.com/healthnet/secureportal/internal/mailcatcher"
)

// The loopback Internet of the TLS-first journey (see deliverytest.World):
// nothing real is looked up or reached.
const (
	tlsClinic   = "tls-clinic.test" // its MX takes STARTTLS with a certificate from the test CA
	plainClinic = "clinic.test"     // its MX offers no STARTTLS
	replyDomain = "reply.portal.test"
	// replyMX is the name on the inbound listener's certificate: the MX of
	// the reply domain, which providers' mail servers verify.
	replyMX = "mx." + replyDomain
)

// tlsWorld is the journey's part of the Internet: DNS, the test CA, and
// each clinic's MX host by domain.
type tlsWorld struct {
	*deliverytest.World
	peers map[string]*deliverytest.Peer
}

// newTLSWorld starts the clinics' mail servers and publishes their MX
// records.
func newTLSWorld(t *testing.T) *tlsWorld {
	t.Helper()
	w := deliverytest.NewWorld(t)
	cfgs := []deliverytest.PeerConfig{
		{Host: "mx." + tlsClinic, Mode: deliverytest.STARTTLS, Cert: w.CA.Leaf(t, "mx."+tlsClinic)},
		{Host: "mx." + plainClinic, Mode: deliverytest.NoSTARTTLS},
	}
	tw := &tlsWorld{World: w, peers: map[string]*deliverytest.Peer{}}
	for i, p := range w.StartPeers(cfgs...) {
		domain := strings.TrimPrefix(cfgs[i].Host, "mx.")
		w.MX(domain, p.Host)
		tw.peers[domain] = p
	}
	return tw
}

// portalVars are the settings of a tls-first portal in this world, with the
// inbound listener's certificate (a test-CA leaf for replyMX) in files, as
// configuration wants them.
func (w *tlsWorld) portalVars(t *testing.T) map[string]string {
	t.Helper()
	st := w.Settings()
	certFile, keyFile := writeKeyPair(t, w.CA.Leaf(t, replyMX))
	return map[string]string{
		"PORTAL_DELIVERY_MODE":      "tls-first",
		"PORTAL_REPLY_DOMAIN":       replyDomain,
		"PORTAL_DNS_RESOLVER":       st.Resolver,
		"PORTAL_DELIVERY_SMTP_PORT": strconv.Itoa(st.SMTPPort),
		"PORTAL_DELIVERY_CA_FILE":   st.CAFile,
		"PORTAL_MTA_STS_PORT":       strconv.Itoa(st.MTASTSPort),
		// The test listens on this address itself (startInbound): port 0,
		// any free one.
		"PORTAL_SMTP_INBOUND_ADDR": "127.0.0.1:0",
		"PORTAL_SMTP_INBOUND_CERT": certFile,
		"PORTAL_SMTP_INBOUND_KEY":  keyFile,
	}
}

// writeKeyPair writes a certificate chain and its key as PEM files.
func writeKeyPair(t *testing.T, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	var chain bytes.Buffer
	for _, der := range cert.Certificate {
		pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "inbound.pem"), filepath.Join(dir, "inbound-key.pem")
	if err := os.WriteFile(certFile, chain.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// startInbound serves the portal's SMTP listener for emailed replies
// (app.Inbound, as `portal serve` does) on PORTAL_SMTP_INBOUND_ADDR until the
// test ends, and returns its address.
func (s *site) startInbound() string {
	s.t.Helper()
	srv, err := s.App.Inbound()
	if err != nil {
		s.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", s.App.Config.Delivery.InboundAddr)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	s.t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			s.t.Errorf("inbound SMTP listener: %v", err)
		}
	})
	return ln.Addr().String()
}

// composeTo writes a new message from the staff compose page and sends it;
// it returns the new thread's id. The delivery hint under To must say how
// the message will go (wantHint).
func (j *journey) composeTo(to, subject, body, wantHint string, files ...testFile) string {
	j.t.Helper()
	j.click(link("New message"))
	j.waitFor(testid("compose-page"))
	j.typeInto("to", to)
	j.typeInto("subject", subject) // leaving To asks the portal which way the message will go
	if got := j.waitForText(testid("delivery-hint"), wantHint); !strings.Contains(got, wantHint) {
		j.t.Errorf("delivery hint for %s = %q, want it to say %q", to, got, wantHint)
	}
	j.checkPage("staff-compose-" + to)
	j.typeInto("body", body)
	if len(files) > 0 {
		var paths []string
		for _, f := range files {
			paths = append(paths, f.path)
		}
		j.chooseFiles("attachments", paths...)
	}
	j.click(button("Send securely"))
	return j.expectSent("/staff/threads/")
}

// waitForText waits up to waitTimeout for the element's text to contain
// want (a script fills it in), and returns the text it last had.
func (tb *tab) waitForText(sel chromedp.CSS, want string) string {
	tb.t.Helper()
	var got string
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = eval[string](tb, fmt.Sprintf(`document.querySelector(%q)?.textContent.trim() ?? ''`, string(sel)))
		if strings.Contains(got, want) {
			break
		}
	}
	return got
}

// deliveryLine reloads a staff thread page until the delivery job has
// recorded how its message went, and returns that line.
func (tb *tab) deliveryLine(threadPath string) string {
	tb.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tb.navigate(threadPath)
		tb.waitFor(testid("thread-page"))
		if tb.count(`[data-testid="delivery"]`) > 0 {
			return tb.text(testid("delivery"))
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s shows no delivery line after 30 s", threadPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// emailReply is a provider's answer from their own mail program: a text
// part (their reply above the quoted message, as mail programs write it)
// and one attachment.
func emailReply(from, to, inReplyTo, subject, text string, file testFile) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@%s>\r\nIn-Reply-To: %s\r\nReferences: %s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%q\r\n\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), tlsClinic, inReplyTo, inReplyTo, mw.Boundary())
	part, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}, "Content-Transfer-Encoding": {"8bit"}})
	part.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	part, _ = mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {fmt.Sprintf("application/pdf; name=%q", file.name)},
		"Content-Disposition":       {fmt.Sprintf("attachment; filename=%q", file.name)},
		"Content-Transfer-Encoding": {"base64"},
	})
	enc := base64.StdEncoding.EncodeToString(file.data)
	for len(enc) > 76 {
		fmt.Fprintf(part, "%s\r\n", enc[:76])
		enc = enc[76:]
	}
	fmt.Fprintf(part, "%s\r\n", enc)
	mw.Close()
	return b.Bytes()
}

// sendByEmail delivers msg to the portal's inbound listener as the
// provider's mail server would: EHLO as its MX, STARTTLS verifying the
// listener's certificate for the reply domain's MX name against the test
// CA, then MAIL, RCPT and DATA.
func sendByEmail(t *testing.T, addr string, ca *x509.Certificate, from, to string, msg []byte) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("connect to the inbound listener: %v", err)
	}
	defer c.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("emailed reply: %s: %v", what, err)
		}
	}
	step("EHLO", c.Hello("mx."+tlsClinic))
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("the inbound listener offers no STARTTLS")
	}
	step("STARTTLS", c.StartTLS(&tls.Config{ServerName: replyMX, RootCAs: roots, MinVersion: tls.VersionTLS12}))
	step("MAIL FROM", c.Mail(from))
	step("RCPT TO", c.Rcpt(to))
	w, err := c.Data()
	step("DATA", err)
	_, err = w.Write(msg)
	step("write the message", err)
	step("end of DATA (the portal's answer)", w.Close())
	step("QUIT", c.Quit())
}

// TLS-first delivery (issue 11), both ways, in the browser. In tls-first
// mode a representative writes to two providers: one whose mail server takes
// verified TLS, one whose server offers no STARTTLS. Compose says, under
// To, which way each message will go. The first message (with a file) is
// delivered whole to the provider's server, which the thread page says;
// the second waits in the portal and the provider is notified, which its
// thread page says. The first provider answers from their mail program to
// the Reply-To of the delivered mail, with a file, over STARTTLS to the
// portal's inbound listener; the representative reloads the thread and sees
// the reply and its file, and downloads it. The provider's IT then checks the
// other domain on the public TLS check, and an admin sees both domains on
// Mail domains and checks one again.
func TestTLSFirstDeliveryAndEmailedReply(t *testing.T) {
	world := newTLSWorld(t)
	j := startJourney(t, "TLS-first delivery and an emailed reply", world.portalVars(t))
	inbound := j.site.startInbound()
	staffEmail, adminEmail := "lena.ortiz@healthnet.example", "ada.admin@healthnet.example"
	tlsProvider, plainProvider := "dr@"+tlsClinic, "office@"+plainClinic
	j.site.createStaff(staffEmail, "Lena Ortiz", teamLA)
	j.site.createAdmin(adminEmail, "Ada Admin")
	dir := t.TempDir()
	lab := newTestFile(t, dir, "lab results.pdf", 40<<10)
	consent := newTestFile(t, dir, "signed consent.pdf", 24<<10)
	const (
		tlsSubject   = "Lab results for your patient"
		tlsBody      = "Dear Dr. Adeyemi,\nThe lab results you asked for are attached.\nPlease call the member about the follow-up."
		plainSubject = "Claim 4471 needs a signature"
		plainBody    = "Please sign the attached claim form in the portal."
		replyText    = "Thank you. The signed consent form is attached.\nDr. Adeyemi"
	)

	j.signIn(staffEmail, "Lena Ortiz", testid("inbox-page"))
	j.checkPage("staff-inbox")

	// To the clinic whose server takes verified TLS.
	tlsThread := j.composeTo(tlsProvider, tlsSubject, tlsBody, "straight to the provider's inbox over verified TLS (mx."+tlsClinic+")", lab)
	j.checkPage("staff-thread-tls-sent")
	j.click(link("Staff inbox"))
	j.waitFor(testid("inbox-page"))
	if got := j.texts(`[data-testid="thread-row"] .thread-link`); !slices.Equal(got, []string{tlsSubject}) {
		t.Errorf("staff inbox lists %q, want %q", got, tlsSubject)
	}
	j.checkPage("staff-inbox-one-thread")

	// To the clinic whose server offers no STARTTLS.
	plainThread := j.composeTo(plainProvider, plainSubject, plainBody, "wait in the portal")
	j.checkPage("staff-thread-portal-sent")

	// Each thread page says how its message went.
	tlsPath, plainPath := "/staff/threads/"+tlsThread, "/staff/threads/"+plainThread
	if got := j.deliveryLine(tlsPath); !strings.HasPrefix(got, "Delivered by TLS") || !strings.Contains(got, "to mx."+tlsClinic) || !strings.Contains(got, "certificate verified") {
		t.Errorf("delivery line of the message to %s = %q, want Delivered by TLS … to mx.%s, certificate verified …", tlsProvider, got, tlsClinic)
	}
	if n := j.count(`[data-testid="recall-email-warning"]`); n != 1 {
		t.Errorf("the message delivered by email has %d warnings that its emailed copy cannot be unsent, want 1", n)
	}
	j.checkPage("staff-thread-tls-delivered")
	if got := j.deliveryLine(plainPath); !strings.HasPrefix(got, "Waiting in the portal") || !strings.Contains(got, "mx."+plainClinic+" offered no STARTTLS") || !strings.Contains(got, "notification sent") {
		t.Errorf("delivery line of the message to %s = %q, want Waiting in the portal: mx.%s offered no STARTTLS; notification sent …", plainProvider, got, plainClinic)
	}
	if n := j.count(`[data-testid="recall-email-warning"]`); n != 0 {
		t.Errorf("a message that waits in the portal warns of an emailed copy")
	}
	j.checkPage("staff-thread-portal-waiting")

	// What the TLS clinic's server received: the whole message, inside TLS.
	envs := world.peers[tlsClinic].Envelopes()
	if len(envs) != 1 || !envs[0].TLS || envs[0].Data == nil || !slices.Equal(envs[0].To, []string{tlsProvider}) {
		for _, e := range envs {
			t.Logf("mx.%s: MAIL FROM %s, RCPT TO %q, TLS %v, %d bytes of data", tlsClinic, e.From, e.To, e.TLS, len(e.Data))
		}
		t.Fatalf("mx.%s got %d transactions, want 1 to %s, whole, inside TLS", tlsClinic, len(envs), tlsProvider)
	}
	delivered, err := mailcatcher.ParseMessage(envs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if delivered.Subject != "[SECURE] "+tlsSubject {
		t.Errorf("delivered subject = %q, want [SECURE] %s", delivered.Subject, tlsSubject)
	}
	if got := strings.TrimRight(delivered.Text, "\n"); got != tlsBody {
		t.Errorf("delivered text = %q, want the whole body %q", got, tlsBody)
	}
	if len(delivered.Attachments) != 1 || delivered.Attachments[0].Filename != lab.name || !bytes.Equal(delivered.Attachments[0].Data, lab.data) {
		t.Errorf("the delivered mail should carry %s byte for byte; it has %d attachments", lab.name, len(delivered.Attachments))
	}
	header, err := mail.ReadMessage(bytes.NewReader(envs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	replyTo, err := mail.ParseAddress(header.Header.Get("Reply-To"))
	if err != nil || !strings.HasPrefix(replyTo.Address, "reply+") || !strings.HasSuffix(replyTo.Address, "@"+replyDomain) {
		t.Fatalf("delivered Reply-To = %q (%v), want reply+<token>@%s", header.Header.Get("Reply-To"), err, replyDomain)
	}
	if from := header.Header.Get("From"); !strings.Contains(from, "Lena Ortiz") {
		t.Errorf("delivered From = %q, want the representative's name", from)
	}

	// The other clinic's server got nothing of the message; the provider
	// got a notification through the portal's own mail.
	for _, e := range world.peers[plainClinic].Envelopes() {
		if e.Data != nil {
			t.Errorf("mx.%s, which offers no STARTTLS, received message data", plainClinic)
		}
	}
	if world.peers[plainClinic].Saw(plainSubject) || world.peers[plainClinic].Saw(plainBody) {
		t.Errorf("mx.%s saw the message's subject or text", plainClinic)
	}
	j.site.linkIn(j.site.mailTo(plainProvider, "[SECURE] New secure message"), "/register/")

	// The representative keeps the thread open while the provider answers
	// from their mail program, with a file.
	j.navigate(tlsPath)
	j.waitFor(testid("thread-page"))
	reply := emailReply(`"Dr. Ada Adeyemi" <`+tlsProvider+`>`, replyTo.String(), header.Header.Get("Message-ID"), "Re: "+delivered.Subject,
		replyText+"\n\nOn "+header.Header.Get("Date")+", Lena Ortiz wrote:\n> "+strings.ReplaceAll(tlsBody, "\n", "\n> ")+"\n", consent)
	sendByEmail(t, inbound, world.CA.Cert, tlsProvider, replyTo.Address, reply)

	// The representative reloads the thread.
	j.andWaitForPage("reload the thread", chromedp.Reload())
	j.waitFor(testid("thread-page"))
	bodies := j.texts(`[data-testid="message-body"]`)
	if len(bodies) != 2 || bodies[1] != replyText {
		t.Errorf("thread bodies after the emailed reply = %q, want the reply's own words %q last", bodies, replyText)
	}
	// The history the mail program quoted is folded below them.
	if quoted := j.texts(`[data-testid="quoted"]`); len(quoted) != 1 || !strings.Contains(quoted[0], "> Dear Dr. Adeyemi,") {
		t.Errorf("the quoted history of the emailed reply is not folded under it: %q", quoted)
	} else if eval[bool](j.tab, `document.querySelector('[data-testid="quoted"]').open`) {
		t.Errorf("the quoted history of the emailed reply is unfolded")
	}
	if got := j.texts(`.message:not(.message-own) [data-testid="attachment"]`); !slices.Equal(got, []string{consent.name}) {
		t.Errorf("the emailed reply lists attachments %q, want %q", got, consent.name)
	}
	j.checkPage("staff-thread-emailed-reply")
	downloads := j.allowDownloads()
	if got := j.download(downloads, consent.name, len(consent.data)); !bytes.Equal(got, consent.data) {
		t.Errorf("downloaded %s differs from the file the provider emailed", consent.name)
	}
	// The representative hears of the reply (without its content).
	j.site.linkIn(j.site.mailTo(staffEmail, "[SECURE]"), tlsPath)
	// The provider whose server took the message was never sent a portal
	// notification.
	for _, m := range j.site.Mail.Messages() {
		if slices.Contains(m.To, tlsProvider) {
			t.Errorf("a portal notification %q went to %s, whose mail server took the message itself", m.Subject, tlsProvider)
		}
	}

	// The other clinic's IT checks their domain on the public page, then
	// the TLS clinic's through its form.
	it := newTab(t, j.site.URL, "TLS-first provider IT")
	it.navigate("/tls-check?domain=" + plainClinic)
	it.waitFor(testid("tls-check-result"))
	if got := it.text(testid("tls-verdict")); got != "Messages to "+plainClinic+" wait in the portal; you get an email with a link" {
		t.Errorf("TLS check verdict for %s = %q", plainClinic, got)
	}
	if got := it.text(testid("tls-reason")); !strings.Contains(got, "offered no STARTTLS") {
		t.Errorf("TLS check reason for %s = %q, want it to say no STARTTLS was offered", plainClinic, got)
	}
	if n := it.count(`[data-testid="tls-advice"]`); n != 1 {
		t.Errorf("TLS check for %s gives no advice on what to change", plainClinic)
	}
	it.checkPage("tls-check-" + plainClinic)
	it.expectFitsPhone("tls-check-" + plainClinic)
	it.typeInto("domain", tlsClinic)
	it.click(button("Check"))
	it.waitFor(testid("tls-check-result"))
	if got := it.text(testid("tls-verdict")); got != "Secure mail goes straight to the inbox at "+tlsClinic {
		t.Errorf("TLS check verdict for %s = %q", tlsClinic, got)
	}
	it.checkPage("tls-check-" + tlsClinic)

	// An admin sees both domains on Mail domains and checks one again.
	a := newTab(t, j.site.URL, "TLS-first admin")
	a.site = j.site
	a.signInAs(adminEmail, "Ada Admin", testid("admin-users-page"))
	a.click(link("Mail domains"))
	a.waitFor(testid("admin-domains-page"))
	rows := a.texts(`[data-testid="domain-row"]`)
	for domain, verdict := range map[string]string{tlsClinic: "Secure mail goes straight to the inbox", plainClinic: "wait in the portal"} {
		if !slices.ContainsFunc(rows, func(r string) bool { return strings.HasPrefix(r, domain) && strings.Contains(r, verdict) }) {
			t.Errorf("Mail domains has no row for %s saying %q: %q", domain, verdict, rows)
		}
	}
	a.checkPage("admin-domains")
	a.expectFitsPhone("admin-domains")
	// The button of the domain's row, by its accessible name as a screen
	// reader says it.
	a.click(chromedp.Search(fmt.Sprintf(`//button[normalize-space(.)=%q]`, "Check again "+plainClinic)))
	a.waitFor(testid("admin-domains-page"))
	if got := a.text(testid("notice")); !strings.HasPrefix(got, plainClinic+": ") || !strings.Contains(got, "offered no STARTTLS") {
		t.Errorf("notice after checking %s again = %q", plainClinic, got)
	}
	a.checkPage("admin-domains-checked-again")
}
