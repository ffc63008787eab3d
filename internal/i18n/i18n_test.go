package i18n

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every word a template asks to translate has its Spanish, and every
// translation keeps the places (%s) of its English.
func TestEveryTemplateWordHasItsSpanish(t *testing.T) {
	// i18n.T(ctx, "…") in the templates; v.tr("…") in the emails' views.
	call := regexp.MustCompile(`(?:i18n\.Tf?\(ctx, |\.tr\()"((?:[^"\\]|\\.)*)"`)
	root := filepath.Join("..", "..", "templates")
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".templ") && !strings.HasSuffix(path, "views.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			seen++
			key := strings.ReplaceAll(m[1], `\"`, `"`)
			if _, ok := spanish[key]; !ok {
				t.Errorf("%s: %q has no Spanish", path, key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 40 {
		t.Errorf("found %d translated words in the templates; the walk is broken", seen)
	}
	for en, es := range spanish {
		if strings.Count(en, "%") != strings.Count(es, "%") {
			t.Errorf("%q and its Spanish %q differ in their %% places", en, es)
		}
		if strings.TrimSpace(es) == "" {
			t.Errorf("%q has an empty Spanish", en)
		}
	}
}

func TestLanguageChoice(t *testing.T) {
	for header, want := range map[string]string{
		"":                              "en",
		"es-MX,es;q=0.9,en;q=0.8":       "es",
		"en-US,en;q=0.9,es;q=0.5":       "en",
		"fr-FR,fr;q=0.9":                "en",
		"es":                            "es",
		"de-DE, es-419;q=0.8, en;q=0.5": "es",
	} {
		if got := Code(FromAcceptLanguage(header)); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", header, got, want)
		}
	}
	ctx := With(context.Background(), Spanish)
	if got := T(ctx, "Sign in"); got != "Iniciar sesión" {
		t.Errorf("T in Spanish: %q", got)
	}
	if got := T(ctx, "no such words"); got != "no such words" {
		t.Errorf("T of an untranslated text: %q, want it as it is", got)
	}
	if got := Tf(ctx, "Register for %s Secure Messaging", "Health Net"); got != "Regístrese en Mensajería Segura de Health Net" {
		t.Errorf("Tf: %q", got)
	}
	if got := T(context.Background(), "Sign in"); got != "Sign in" {
		t.Errorf("T without a language: %q", got)
	}
}

func TestDatesInEachLanguage(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 4, 0, 0, time.FixedZone("PST", -8*3600))
	if got := DateTime(context.Background(), at); got != "Dec 2, 2026 3:04 PM PST" {
		t.Errorf("English: %q", got)
	}
	if got := DateTime(With(context.Background(), Spanish), at); got != "2 dic 2026, 3:04 p. m. PST" {
		t.Errorf("Spanish: %q", got)
	}
	if got := DateTime(With(context.Background(), Spanish), at.Add(-12*time.Hour)); got != "2 dic 2026, 3:04 a. m. PST" {
		t.Errorf("Spanish morning: %q", got)
	}
}
