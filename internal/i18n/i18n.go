// Package i18n chooses each request's language (English or Spanish, issue
// 15) and translates the portal's words. The English text is the key, so
// a page reads as it always did and a word without a translation shows in
// English rather than as a code. The translations are written and
// reviewed by the team (spanish.go), never made by a machine at run time.
// Language negotiation is golang.org/x/text/language's.
package i18n

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/text/language"
)

// The languages the portal speaks; English first, the fallback.
var (
	English = language.English
	Spanish = language.Spanish
	matcher = language.NewMatcher([]language.Tag{English, Spanish})
)

// Code is a language's code for lang attributes, ?lang= and the cookie.
func Code(tag language.Tag) string {
	if tag == Spanish {
		return "es"
	}
	return "en"
}

// Parse reads a code given by ?lang= or the cookie: "en" or "es".
func Parse(code string) (language.Tag, bool) {
	switch code {
	case "en":
		return English, true
	case "es":
		return Spanish, true
	}
	return English, false
}

// FromAcceptLanguage is the best language of the portal's for a browser's
// Accept-Language header (English when it asks for neither).
func FromAcceptLanguage(header string) language.Tag {
	tags, _, _ := language.ParseAcceptLanguage(header)
	_, i, conf := matcher.Match(tags...)
	if conf == language.No || i != 1 {
		return English
	}
	return Spanish
}

type ctxKey struct{}

// With is ctx speaking tag.
func With(ctx context.Context, tag language.Tag) context.Context {
	return context.WithValue(ctx, ctxKey{}, tag)
}

// Lang is ctx's language (English when none was chosen).
func Lang(ctx context.Context) language.Tag {
	if tag, ok := ctx.Value(ctxKey{}).(language.Tag); ok {
		return tag
	}
	return English
}

// LangCode is Code(Lang(ctx)), for <html lang>.
func LangCode(ctx context.Context) string { return Code(Lang(ctx)) }

// T is text in ctx's language: its translation, or text itself.
func T(ctx context.Context, text string) string {
	if Lang(ctx) != Spanish {
		return text
	}
	if es, ok := spanish[text]; ok {
		return es
	}
	return text
}

// Tf is T for a text with %s (or other fmt verbs) where the words around
// a value differ in order between languages: the format is translated,
// then filled in.
func Tf(ctx context.Context, format string, args ...any) string {
	return fmt.Sprintf(T(ctx, format), args...)
}

// monthsES are the months as Spanish writes them in a date.
var monthsES = [...]string{"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"}

// DateTime writes t (already in the portal's time zone) as ctx's language
// does: "Dec 2, 2026 3:04 PM PST", "2 dic 2026, 3:04 p. m. PST".
func DateTime(ctx context.Context, t time.Time) string {
	if Lang(ctx) != Spanish {
		return t.Format("Jan 2, 2006 3:04 PM MST")
	}
	half := "a. m."
	if t.Hour() >= 12 {
		half = "p. m."
	}
	return fmt.Sprintf("%d %s %d, %s %s %s", t.Day(), monthsES[t.Month()-1], t.Year(), t.Format("3:04"), half, t.Format("MST"))
}

// Date writes t's day as ctx's language does: "Dec 16, 2026",
// "16 dic 2026".
func Date(ctx context.Context, t time.Time) string {
	if Lang(ctx) != Spanish {
		return t.Format("Jan 2, 2006")
	}
	return fmt.Sprintf("%d %s %d", t.Day(), monthsES[t.Month()-1], t.Year())
}

// Translated lists the English of every text that has Spanish different
// from it: what a page shown in Spanish must not hold (the browser
// journey in Spanish checks each of its pages against it).
func Translated() []string {
	var out []string
	for en, es := range spanish {
		if en != es {
			out = append(out, en)
		}
	}
	return out
}
