package web_test

import (
	"net/http"
	"net/url"
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
