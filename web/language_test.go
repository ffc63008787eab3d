package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The language of the pages: the browser's Accept-Language, or ?lang=
// (remembered), English otherwise; <html lang> says which. The sign-in
// page, its failure, the error pages and the frame are in Spanish, with
// none of their English left.
func TestPagesSpeakTheChosenLanguage(t *testing.T) {
	s := newSite(t, nil)
	spanishBrowser := http.Header{"Accept-Language": {"es-MX,es;q=0.9,en;q=0.5"}}
	b := s.browser()
	p := b.do(http.MethodGet, "/login", nil, spanishBrowser)
	for _, want := range []string{`<html lang="es">`, "Iniciar sesión", "Correo electrónico", "Contraseña", "¿Olvidó su contraseña?",
		"Ir al contenido principal", "Guía del correo seguro", `hreflang="en">English</a>`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("Spanish sign-in page lacks %q", want)
		}
	}
	for _, english := range []string{">Sign in<", "Email address", ">Password<", "Forgot password?", "Skip to main content", "Need help?", "First time here?"} {
		if strings.Contains(p.Body, english) {
			t.Errorf("Spanish sign-in page still says %q", english)
		}
	}
	p = b.do(http.MethodPost, "/login", url.Values{"email": {"nobody@clinic.example"}, "password": {"not the password at all"}}, spanishBrowser)
	if !strings.Contains(p.Body, "El correo electrónico o la contraseña no son correctos") {
		t.Errorf("sign-in failure in Spanish: %d %.300s", p.Status, p.Body)
	}
	if p := b.do(http.MethodGet, "/no-such-page", nil, spanishBrowser); p.Status != 404 || !strings.Contains(p.Body, "Página no encontrada") {
		t.Errorf("404 in Spanish: %d", p.Status)
	}

	help := b.do(http.MethodGet, "/help", nil, spanishBrowser)
	spanishOnly(t, "guide", help.Body, []string{"<h1 id=\"help-title\">Guía del correo seguro</h1>", "Registrarse la primera vez", "SecureMessage.html", "durante 30 minutos"},
		[]string{"Register the first time", "Whom to call", "Forgot your password"})

	// Nothing said: English.
	if p := s.browser().get("/login"); !strings.Contains(p.Body, `<html lang="en">`) || !strings.Contains(p.Body, "Forgot password?") {
		t.Error("without a choice the page is not in English")
	}
	// ?lang=es is remembered by this browser, whatever it asks for.
	c := s.browser()
	if p := c.get("/login?lang=es"); !strings.Contains(p.Body, `<html lang="es">`) || !strings.Contains(p.Header.Get("Set-Cookie"), "lang=es") {
		t.Errorf("?lang=es: lang attribute or cookie missing (%q)", p.Header.Get("Set-Cookie"))
	}
	if p := c.do(http.MethodGet, "/forgot-password", nil, http.Header{"Accept-Language": {"en-US"}}); !strings.Contains(p.Body, "Envíenme un enlace") {
		t.Error("the chosen Spanish was not remembered")
	}
	if p := c.get("/login?lang=en"); !strings.Contains(p.Body, `<html lang="en">`) {
		t.Error("?lang=en did not switch back")
	}
	if p := c.get("/forgot-password"); !strings.Contains(p.Body, "Email me a link") {
		t.Error("English was not remembered after switching back")
	}
}

// A provider who chose Spanish in their profile gets the notification in
// Spanish (the "[SECURE]" mark kept), and its link opens the portal in
// Spanish; one who did not, in English.
func TestTheNotificationSpeaksTheProvidersLanguage(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena Ortiz", "LA")
	staff := s.signedIn("rep.la@plan.example")
	es, en := s.provider("recepcion@clinica.example"), s.provider("office@clinic.example")
	if _, err := s.app.Pool.Exec(context.Background(), `INSERT INTO provider_profiles (user_id, language) VALUES ($1, 'es')`, es.ID); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{es.Email, en.Email} {
		p := staff.postMessage("/staff/compose", url.Values{"to": {to}, "subject": {"Claim"}, "body": {"Please call us."}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("send to %s: %d", to, p.Status)
		}
	}
	m, link := s.mailTo(es.Email, "[SECURE] Nuevo mensaje seguro de Health Net", "/threads/")
	for _, want := range []string{"Health Net le envió un mensaje seguro", "Leer el mensaje", "Guía del correo seguro"} {
		if !strings.Contains(m.HTML, want) || (want != "Leer el mensaje" && !strings.Contains(m.Text, want)) {
			t.Errorf("Spanish notification lacks %q", want)
		}
	}
	if !strings.Contains(m.HTML, `lang="es"`) || strings.Contains(m.Text, "has sent you") {
		t.Error("Spanish notification: lang attribute missing, or English left in its text")
	}
	if !slices.ContainsFunc(m.Links(), func(l string) bool { return strings.Contains(l, link) && strings.HasSuffix(l, "?lang=es") }) {
		t.Errorf("the Spanish notification's link does not open the portal in Spanish: %v", m.Links())
	}
	m, _ = s.mailTo(en.Email, "[SECURE] New secure message from Health Net", "/threads/")
	if !strings.Contains(m.Text, "Health Net has sent you a secure message") {
		t.Error("English notification changed")
	}
}

// A provider reading in Spanish: the inbox, a conversation, the reply and
// a new message speak it, with none of their fixed English left.
func TestAProviderReadsAndRepliesInSpanish(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena Ortiz", "LA")
	staff := s.signedIn("rep.la@plan.example")
	dr := s.provider("recepcion@clinica.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {dr.Email}, "subject": {"Autorización 4471"}, "body": {"Llámenos, por favor."}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("send: %d", p.Status)
	}
	b := s.signedIn(dr.Email)
	b.get("/inbox?lang=es")
	inbox := b.get("/inbox")
	spanishOnly(t, "inbox", inbox.Body, []string{"Sus mensajes seguros", "Actuales", "Archivadas", "Mensaje nuevo", "Buscar", "Asunto", "Última actividad", "1 sin leer"},
		[]string{"Your secure messages", ">Current<", ">Archived<", ">New message<", ">Search<", ">Subject<", "Last activity", " unread<"})
	spanishDate := regexp.MustCompile(`\d{1,2} (ene|feb|mar|abr|may|jun|jul|ago|sep|oct|nov|dic) \d{4}, \d{1,2}:\d{2} (a|p)\. m\.`)
	englishDate := regexp.MustCompile(`(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}, \d{4}`)
	if !spanishDate.MatchString(inbox.Body) || englishDate.MatchString(inbox.Body) {
		t.Error("the inbox's dates are not written the Spanish way")
	}
	link := firstThreadLink(t, inbox.Body)
	thread := b.get(link)
	spanishOnly(t, "thread", thread.Body, []string{"Con Lena Ortiz", "Responder de forma segura", "Su respuesta", "Enviar la respuesta", "Archivos adjuntos (opcional)", "Archivar", "Hasta 10 archivos"},
		[]string{">With ", "Reply securely", ">Your reply<", "Send reply", "Attachments (optional)", ">Archive<", "Up to "})
	if !spanishDate.MatchString(thread.Body) || englishDate.MatchString(thread.Body) {
		t.Error("the conversation's dates are not written the Spanish way")
	}
	p = b.postMessage(link+"/reply", url.Values{"body": {"Gracias, llamamos mañana."}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("reply in Spanish: %d", p.Status)
	}
	if got := b.get(p.Location); !strings.Contains(got.Body, "Su mensaje se envió de forma segura.") {
		t.Error("the reply's confirmation is not in Spanish")
	}
	compose := b.get("/compose")
	spanishOnly(t, "compose", compose.Body, []string{"Mensaje seguro nuevo", "Para", "Elija…", "Asunto", "Mensaje", "Enviar de forma segura"},
		[]string{"New secure message", ">To<", "Choose…", "Send securely"})
	spanishOnly(t, "a search that finds nothing", b.get("/inbox?q=zzzqqq").Body, []string{"Ninguna conversación coincide con su búsqueda", "Revise la ortografía"},
		[]string{"No conversation matches", "Check the spelling"})
	spanishOnly(t, "a search that finds one", b.get("/inbox?q=4471").Body, []string{"1 conversación coincide."}, []string{"1 conversation matches."})
}

// spanishOnly checks a page has each Spanish phrase and none of the English.
func spanishOnly(t *testing.T, page, body string, spanish, english []string) {
	t.Helper()
	for _, want := range spanish {
		if !strings.Contains(body, want) {
			t.Errorf("%s in Spanish lacks %q", page, want)
		}
	}
	for _, en := range english {
		if strings.Contains(body, en) {
			t.Errorf("%s in Spanish still says %q", page, en)
		}
	}
}

// firstThreadLink is the first conversation's link on an inbox page.
func firstThreadLink(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`href="(/threads/[0-9a-f-]+)" class="thread-link"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no conversation on the inbox page")
	}
	return m[1]
}

// The account emails speak the provider's language too: a reset link,
// the notice that the password changed, and a practice's invitation; a
// provider reading in English gets them as before.
func TestAccountEmailsSpeakTheProvidersLanguage(t *testing.T) {
	s := newSite(t, nil)
	es, en := s.provider("recepcion@clinica.example"), s.provider("office@clinic.example")
	if _, err := s.app.Pool.Exec(context.Background(), `INSERT INTO provider_profiles (user_id, language) VALUES ($1, 'es')`, es.ID); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{es.Email, en.Email} {
		s.browser().post("/forgot-password", url.Values{"email": {to}})
	}
	m, link := s.mailTo(es.Email, "Restablezca su contraseña de Mensajería Segura de Health Net", "/reset-password/")
	for _, want := range []string{"Alguien pidió restablecer la contraseña", "Para elegir una contraseña nueva, abra este enlace:", "Guía del correo seguro"} {
		must(t, "the Spanish reset email's text says "+want, strings.Contains(m.Text, want))
	}
	must(t, "its HTML is Spanish", strings.Contains(m.HTML, `lang="es"`) && strings.Contains(m.HTML, "seleccione el botón"))
	must(t, "no English left in it", !strings.Contains(m.Text, "Someone asked") && !strings.Contains(m.HTML, "Someone asked"))
	m, _ = s.mailTo(en.Email, "Reset your Health Net Secure Messaging password", "/reset-password/")
	must(t, "the English reset email as before", strings.Contains(m.Text, "To choose a new password, open this link:"))

	b := s.browser()
	p := b.post(link, url.Values{"password": {"violet harbour lanterns sway gently"}, "password_confirm": {"violet harbour lanterns sway gently"}})
	must(t, "reset", p.Status == http.StatusSeeOther)
	m, _ = s.mailTo(es.Email, "Su contraseña de Mensajería Segura de Health Net cambió", "")
	must(t, "the Spanish password-changed notice", strings.Contains(m.Text, "acaba de cambiar") && strings.Contains(m.HTML, "restablezca su contraseña ahora"))

	// A practice's invitation, to the Spanish reader.
	desk := s.practiceWithInvite("frontdesk@clinica.example", "")
	must(t, "invited", desk.post("/practice/invites", url.Values{"email": {es.Email}}).Status == http.StatusSeeOther)
	m, _ = s.mailTo(es.Email, "Lo invitan a Practice of frontdesk@clinica.example en Mensajería Segura de Health Net", "/practice")
	must(t, "the Spanish invitation: "+m.Text, strings.Contains(m.Text, "lo invitó a unirse") && strings.Contains(m.HTML, "Ver la invitación"))
}

// The profile's language follows a provider to a new browser: signing in
// sets it (a browser asking for English gets Spanish after signing in);
// a provider who never saved a profile keeps what their browser asks for.
func TestSigningInBringsTheProfilesLanguage(t *testing.T) {
	s := newSite(t, nil)
	es, _ := s.provider("recepcion@clinica.example"), s.provider("office@clinic.example")
	if _, err := s.app.Pool.Exec(context.Background(), `INSERT INTO provider_profiles (user_id, language) VALUES ($1, 'es')`, es.ID); err != nil {
		t.Fatal(err)
	}
	b := s.signedIn(es.Email)
	contains(t, "after signing in on a new browser", b.get("/inbox").Body, `<html lang="es">`)
	other := s.browser()
	p := other.do(http.MethodGet, "/login", nil, http.Header{"Accept-Language": {"es-MX"}})
	contains(t, "the sign-in page follows the browser", p.Body, `<html lang="es">`)
	other.signInFully("office@clinic.example", goodPassword)
	p = other.do(http.MethodGet, "/inbox", nil, http.Header{"Accept-Language": {"es-MX"}})
	contains(t, "no saved profile: still the browser's language", p.Body, `<html lang="es">`)
	p = other.do(http.MethodGet, "/inbox", nil, http.Header{"Accept-Language": {"en-US"}})
	contains(t, "no saved profile: no cookie was set", p.Body, `<html lang="en">`)
}
