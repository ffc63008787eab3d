package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/healthnet/secureportal/internal/i18n"
	"github.com/healthnet/secureportal/internal/messaging"
)

// speakSpanish makes the tab ask for Spanish first, as a browser set up
// in Spanish does.
func (tb *tab) speakSpanish() {
	tb.t.Helper()
	tb.do("ask for Spanish", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}})
		return err
	}))
}

// expectSpanish checks the page is marked Spanish and that no text of
// the catalog is left in English on it (sentences with a value, "%s",
// and words shorter than 8 letters, which may be Spanish too, aside).
func (tb *tab) expectSpanish(name string) {
	tb.t.Helper()
	if lang := eval[string](tb, `document.documentElement.lang`); lang != "es" {
		tb.t.Errorf("page %s: <html lang=%q>, want es", name, lang)
	}
	for _, en := range tb.englishLeft() {
		tb.t.Errorf("page %s holds the English %q", name, en)
	}
}

// englishLeft are the catalog's English texts on the page, as whole words
// ("provider" in provider_services@… is an address, not English).
func (tb *tab) englishLeft() []string {
	tb.t.Helper()
	text := eval[string](tb, `document.body.innerText`)
	var left []string
	for _, en := range i18n.Translated() {
		if len(en) >= 8 && !strings.Contains(en, "%") && regexp.MustCompile(`(^|\W)`+regexp.QuoteMeta(en)+`($|\W)`).MatchString(text) {
			left = append(left, en)
		}
	}
	return left
}

// A provider whose browser asks for Spanish (Accept-Language es) follows
// the notification's link, registers, reads the message and replies; signs
// out, forgets the password and resets it, then visits the account's
// pages and the practice page: every page in Spanish, no English text of
// the catalog left on any, each passing axe; the conversation and the
// practice page fit a phone.
func TestJourneyInSpanish(t *testing.T) {
	j := startJourney(t, "J15 a provider in Spanish", nil)
	staff, _ := j.site.createStaff("lena.ortiz@healthnet.example", "Lena Ortiz", teamLA)
	const email = "recepcion@clinicasol.example"
	const subject = "Autorización previa del paciente"
	if _, err := j.site.App.Messages.StartToProvider(context.Background(), messaging.Viewer{UserID: staff.ID, Staff: true, IP: "127.0.0.1"},
		email, subject, "La autorización está aprobada; el resumen va adjunto.", 0, nil); err != nil {
		t.Fatal(err)
	}
	registerLink := j.site.mailLink(email, "[SECURE]", "/register/")

	// The check sees English where there is English.
	j.navigate("/login")
	j.waitFor(testid("login-page"))
	if left := j.englishLeft(); len(left) < 3 {
		t.Fatalf("the English sign-in page shows %d texts of the catalog (%q): the check is blind", len(left), left)
	}
	j.speakSpanish()
	page := func(id, name string) {
		t.Helper()
		j.waitFor(testid(id))
		j.checkPage(name)
		j.expectSpanish(name)
	}
	j.navigate(registerLink)
	page("register-page", "registro")
	j.typeInto("name", "Marta Solís")
	j.typeInto("password", goodPassword)
	j.typeInto("password_confirm", goodPassword+" x")
	j.click(button("Registrarme y abrir mis mensajes"))
	page("error-summary", "registro con un error")
	j.typeInto("password", goodPassword)
	j.typeInto("password_confirm", goodPassword)
	j.click(button("Registrarme y abrir mis mensajes"))
	page("thread-page", "conversación")
	if got := j.text(chromedp.CSS("h1")); got != subject {
		t.Errorf("thread heading = %q, want %q", got, subject)
	}
	j.expectFitsPhone("conversación")

	j.typeInto("body", "Gracias, lo recibimos.")
	j.click(button("Enviar la respuesta"))
	j.expectSent("/threads/")
	j.checkPage("respuesta enviada")
	j.expectSpanish("respuesta enviada")
	j.click(navLink("Bandeja de entrada"))
	page("inbox-page", "bandeja de entrada")
	j.click(navLink("Mensaje nuevo"))
	page("compose-page", "mensaje nuevo")

	j.click(button("Cerrar sesión"))
	page("login-page", "sesión cerrada")
	j.click(link("¿Olvidó su contraseña?"))
	page("forgot-page", "olvidó su contraseña")
	j.typeInto("email", email)
	j.click(button("Envíenme un enlace"))
	page("notice", "enlace enviado")
	j.navigate(j.site.mailLink(email, "", "/reset-password/"))
	page("reset-page", "nueva contraseña")
	j.typeInto("password", otherPassword)
	j.typeInto("password_confirm", otherPassword)
	j.click(button("Cambiar la contraseña"))
	page("login-page", "contraseña cambiada")
	j.typeInto("email", email)
	j.typeInto("password", otherPassword)
	j.click(button("Iniciar sesión"))
	page("inbox-page", "bandeja de entrada de nuevo")
	if n := j.count(`[data-testid="thread-row"]`); n != 1 {
		t.Errorf("inbox lists %d conversations, want 1", n)
	}
	// The account's pages and the practice page, as the front desk
	// finds them.
	for _, p := range []struct{ path, id, name string }{
		{"/account", "account-page", "su cuenta"},
		{"/account/profile", "profile-page", "su perfil"},
		{"/account/password", "change-password-page", "cambiar la contraseña"},
		{"/practice", "practice-page", "consultorio"},
	} {
		j.navigate(p.path)
		page(p.id, p.name)
	}
	j.expectFitsPhone("consultorio")
}
