package e2e

import (
	"context"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// errorSummaryJS describes the form's error summary and the fields it links to.
const errorSummaryJS = `(() => {
  const s = document.querySelector('[data-testid="error-summary"]');
  if (!s) return {found: false, role: '', links: []};
  return {found: true, role: s.getAttribute('role') || '', links: [...s.querySelectorAll('a')].map((a) => {
    const href = a.getAttribute('href') || '';
    const f = href.startsWith('#') ? document.getElementById(href.slice(1)) : null;
    const described = f ? (f.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean) : [];
    const errors = described.map((id) => document.getElementById(id)).filter((e) => e && e.classList.contains('error-message'));
    return {href, text: a.textContent.trim(), field: !!f, invalid: f ? (f.getAttribute('aria-invalid') || '') : '',
            describedBy: errors.map((e) => e.textContent.trim()).join(' | ')};
  })};
})()`

type errorSummary struct {
	Found bool   `json:"found"`
	Role  string `json:"role"`
	Links []struct {
		Href        string `json:"href"`
		Text        string `json:"text"`
		Field       bool   `json:"field"`
		Invalid     string `json:"invalid"`
		DescribedBy string `json:"describedBy"`
	} `json:"links"`
}

// expectErrorSummary checks the error summary of a form that was sent back:
// announced (role=alert), one link per error to its field (#field-<name>),
// the field marked aria-invalid and described by its error message; and the
// fields named are among them.
func (tb *tab) expectErrorSummary(fields ...string) {
	tb.t.Helper()
	s := eval[errorSummary](tb, errorSummaryJS)
	if !s.Found {
		tb.t.Fatal("no error summary on the page")
	}
	if s.Role != "alert" {
		tb.t.Errorf("error summary role = %q, want alert (announced by screen readers)", s.Role)
	}
	linked := map[string]bool{}
	for _, l := range s.Links {
		linked[l.Href] = true
		switch {
		case !strings.HasPrefix(l.Href, "#field-") || !l.Field:
			tb.t.Errorf("error %q links to %q, which is no field on the page", l.Text, l.Href)
		case l.Invalid != "true":
			tb.t.Errorf("field %s has an error but aria-invalid=%q", l.Href, l.Invalid)
		case l.DescribedBy == "":
			tb.t.Errorf("field %s is not described by its error message (aria-describedby)", l.Href)
		}
	}
	for _, f := range fields {
		if !linked["#field-"+f] {
			tb.t.Errorf("error summary has no link to #field-%s; it has %+v", f, s.Links)
		}
	}
}

// phoneFitJS measures the page against the viewport and names what sticks
// out on the right.
const phoneFitJS = `(() => {
  const vw = window.innerWidth, sw = document.documentElement.scrollWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > vw + 0.5 && wide.length < 8) {
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
        ' (right edge ' + Math.round(r.right) + 'px)');
    }
  }
  return {innerWidth: vw, scrollWidth: sw, wide};
})()`

// expectFitsPhone checks that at the 390×844 phone viewport the page needs
// no horizontal scrolling, then restores the desktop size.
func (tb *tab) expectFitsPhone(name string) {
	tb.t.Helper()
	tb.do("switch to the phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	defer tb.do("switch back to the desktop viewport", chromedp.EmulateViewport(desktopWidth, desktopHeight))
	fit := eval[struct {
		InnerWidth  int      `json:"innerWidth"`
		ScrollWidth int      `json:"scrollWidth"`
		Wide        []string `json:"wide"`
	}](tb, phoneFitJS)
	if fit.ScrollWidth > fit.InnerWidth || fit.InnerWidth > phoneWidth {
		tb.t.Errorf("page %s scrolls sideways on a phone: scrollWidth %d, innerWidth %d (viewport %d); too wide: %q",
			name, fit.ScrollWidth, fit.InnerWidth, phoneWidth, fit.Wide)
	}
}

// expectPrintable checks a conversation as it prints (for a patient's
// chart): the Print button is there (our script showed it), and in print
// media the messages show while the navigation, forms and buttons do not.
func (tb *tab) expectPrintable() {
	tb.t.Helper()
	if hidden := eval[bool](tb, `document.querySelector("button[data-print]").hidden`); hidden {
		tb.t.Error("the Print button is still hidden: print.js did not run")
	}
	media := func(m string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m})
			return err
		})
	}
	tb.do("emulate print media", media("print"))
	defer tb.do("back to screen media", media(""))
	shown := eval[map[string]bool](tb, printCheckJS)
	for sel, want := range map[string]bool{".message": true, ".site-header nav": false, ".reply": false, "button[data-print]": false, ".site-header .account": false} {
		if got, ok := shown[sel]; !ok || got != want {
			tb.t.Errorf("in print, %s shown = %v (found %v), want %v", sel, got, ok, want)
		}
	}
}

// printCheckJS reports, for each selector present on the page, whether its
// first match is displayed.
const printCheckJS = `(() => {
  const out = {};
  for (const sel of [".message", ".site-header nav", ".reply", "button[data-print]", ".site-header .account"]) {
    const el = document.querySelector(sel);
    if (el) out[sel] = getComputedStyle(el).display !== "none";
  }
  return out;
})()`
