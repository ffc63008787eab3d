package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath is Debian's chromium; .ci/run installs it when missing.
const chromiumPath = "/usr/bin/chromium"

// Desktop viewport of every tab; checkPage also shoots a phone viewport.
const (
	desktopWidth, desktopHeight = 1280, 900
	phoneWidth, phoneHeight     = 390, 844
)

// tabTimeout bounds one journey's browser work, so a wait for a selector that
// never appears fails the test instead of hanging the whole run.
const tabTimeout = 2 * time.Minute

var (
	// noBrowser says why there is no browser (local runs without chromium).
	noBrowser string

	// The one chromium shared by every test of the package, started by the
	// first test that needs it (so `go test -run X ./...` starts none); each
	// test opens its own browser context (cookies, storage) and tab in it.
	browserOnce sync.Once
	browserCtx  context.Context
	browserErr  error
	stopBrowser = func() {}
)

func inCI() bool { return os.Getenv("CI") == "true" }

func TestMain(m *testing.M) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if inCI() {
			fmt.Fprintf(os.Stderr, "e2e: %s is missing and CI=true: install Debian's chromium (apt-get install -y chromium; .ci/run does it)\n", chromiumPath)
			os.Exit(1)
		}
		noBrowser = fmt.Sprintf("e2e: %s not found: install Debian's chromium (apt-get install -y chromium) to run the browser journeys", chromiumPath)
	}
	code := m.Run()
	stopBrowser()
	os.Exit(code)
}

// sharedBrowser starts chromium once, headless, with a throwaway profile.
func sharedBrowser() (context.Context, error) {
	browserOnce.Do(func() {
		profile, err := os.MkdirTemp("", "secureportal-e2e-chromium-")
		if err != nil {
			browserErr = err
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromiumPath),
			chromedp.UserDataDir(profile),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.WindowSize(desktopWidth, desktopHeight),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelBrowser := chromedp.NewContext(allocCtx)
		stopBrowser = func() {
			cancelBrowser()
			cancelAlloc()
			os.RemoveAll(profile)
		}
		// Start the browser (with its first, blank tab) now, so a broken
		// install fails with one clear error.
		if err := chromedp.Do(ctx); err != nil {
			browserErr = fmt.Errorf("start %s: %w", chromiumPath, err)
			return
		}
		browserCtx = ctx
	})
	return browserCtx, browserErr
}

// tab is one person's browser: a fresh browser context (no cookies shared
// with other tests) and one tab in it, watched for problems.
type tab struct {
	t       *testing.T
	ctx     context.Context
	baseURL string
	journey string

	mu       sync.Mutex
	problems []string
	shots    int
}

// cspRecorder runs in every document before the page's own scripts and
// records Content-Security-Policy violations for checkPage to read.
const cspRecorder = `(() => {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || '(inline)') +
      ' in ' + (e.sourceFile || e.documentURI) + ':' + e.lineNumber);
  });
})();`

// newTab opens a tab for t. Problems seen by its listeners fail t (checked
// at every checkPage and when the test ends).
func newTab(t *testing.T, baseURL, journey string) *tab {
	t.Helper()
	if noBrowser != "" {
		t.Skip(noBrowser)
	}
	parent, err := sharedBrowser()
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	tb := &tab{t: t, baseURL: baseURL, journey: journey}
	tabCtx, cancelTab := chromedp.NewContext(parent,
		chromedp.WithNewBrowserContext(),
		chromedp.WithListener(tb.onEvent))
	ctx, cancel := context.WithTimeout(tabCtx, tabTimeout)
	tb.ctx = ctx
	t.Cleanup(func() {
		tb.reportProblems("at the end of the journey")
		cancel()
		cancelTab()
	})
	err = chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			_, err := cdp.Call(ctx, target, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
			return err
		}),
		chromedp.EmulateViewport(desktopWidth, desktopHeight),
	)
	if err != nil {
		t.Fatalf("open a browser tab: %v", err)
	}
	return tb
}

// onEvent runs on chromedp's read loop: it only records.
func (tb *tab) onEvent(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			problem = "console." + string(ev.Type) + ": " + consoleArgs(ev.Args)
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		problem = fmt.Sprintf("uncaught exception: %s (%s:%d)", text, d.URL, d.LineNumber+1)
	case *log.EventEntryAdded:
		// The browser's own log: failed resource loads, CSP refusals
		// ("Refused to ... because it violates the following Content
		// Security Policy directive"), mixed content and the like.
		// Network entries ("Failed to load resource: 404") are left to the
		// network events below, which know a page's deliberate 4xx from a
		// broken stylesheet.
		if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
			problem = fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	case *network.EventLoadingFailed:
		// A request the browser itself abandoned (the page navigated away
		// while it was in flight) is not a failure of the portal.
		if !(ev.Canceled && ev.BlockedReason == "" && ev.CorsErrorStatus == nil) {
			problem = fmt.Sprintf("request failed (%s): %s %s", ev.Type, ev.ErrorText, ev.BlockedReason)
		}
	case *network.EventResponseReceived:
		status := ev.Response.Status
		// A page may answer 4xx on purpose (a form with errors is 422, an
		// expired link 410); its subresources may not. 5xx is always wrong.
		if status >= 500 || (status >= 400 && ev.Type != network.ResourceTypeDocument) {
			problem = fmt.Sprintf("HTTP %d for %s %s", status, ev.Type, ev.Response.URL)
		}
	}
	if problem == "" {
		return
	}
	tb.mu.Lock()
	tb.problems = append(tb.problems, problem)
	tb.mu.Unlock()
}

func consoleArgs(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// takeProblems returns and forgets what the listeners recorded so far.
func (tb *tab) takeProblems() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	p := tb.problems
	tb.problems = nil
	return p
}

func (tb *tab) reportProblems(where string) {
	tb.t.Helper()
	for _, p := range tb.takeProblems() {
		tb.t.Errorf("browser problem %s: %s", where, p)
	}
}

// cspViolations reads what cspRecorder saw on the current page.
func (tb *tab) cspViolations() []string {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]string](`window.__cspViolations || []`))
	if err != nil {
		tb.t.Fatalf("read CSP violations: %v", err)
	}
	return v
}

// do runs browser steps, failing the test on error.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// navigate opens a URL (absolute, or a path on the portal) as a person
// typing it or following a link from an email would, and waits for the load.
func (tb *tab) navigate(target string) *network.Response {
	tb.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = tb.baseURL + target
	}
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(target))
	if err != nil {
		tb.t.Fatalf("open %s: %v", target, err)
	}
	return resp
}

// andWaitForPage runs steps that make the browser load a new page (a click
// on a submit button or a link, Enter in a form) and waits for that load.
func (tb *tab) andWaitForPage(what string, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	tb.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, steps...)
	if err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
	return resp
}

// link and button select an element by its visible text, as a person finds it.
func link(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//a[normalize-space()=%q]`, text))
}

func button(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//button[normalize-space()=%q]`, text))
}

// field selects a form input by its name: inputs have id field-<name>.
func field(name string) chromedp.ID { return chromedp.ID("field-" + name) }

// testid selects an element by its data-testid.
func testid(id string) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(`[data-testid=%q]`, id)) }

// typeInto clicks into a field, empties it as a person would (Ctrl+A,
// Backspace) when the page kept an earlier value, and types text.
func (tb *tab) typeInto(name, text string) {
	tb.t.Helper()
	tb.do("click into "+name, chromedp.Click(field(name), chromedp.NodeVisible))
	if v := tb.value(name); v != "" {
		tb.do("empty "+name, chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent(kb.Backspace))
		if v := tb.value(name); v != "" {
			tb.t.Fatalf("could not empty field %s: it still holds %q", name, v)
		}
	}
	tb.do("type into "+name, chromedp.SendKeys(field(name), text))
}

func (tb *tab) value(name string) string {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Value(field(name)))
	if err != nil {
		tb.t.Fatalf("read field %s: %v", name, err)
	}
	return v
}

// click clicks something that loads a new page and waits for it.
func (tb *tab) click(sel chromedp.Search) *network.Response {
	tb.t.Helper()
	return tb.andWaitForPage("click "+string(sel), chromedp.Click(sel, chromedp.NodeVisible))
}

// waitTimeout bounds one wait for an element, so a journey that went
// elsewhere fails in seconds, saying where it is.
const waitTimeout = 20 * time.Second

// waitFor waits for an element to be visible on the current page.
func (tb *tab) waitFor(sel chromedp.CSS) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel)); err != nil {
		where, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`location.pathname + location.search + ' (heading: ' + (document.querySelector('h1')?.textContent.trim() ?? 'none') + ')'`))
		tb.t.Fatalf("wait for %s: %v; the browser is at %s", sel, err, where)
	}
}

// expectSignedInAt waits for the page a signed-in person lands on and checks
// the header names them.
func (tb *tab) expectSignedInAt(page chromedp.CSS, name string) {
	tb.t.Helper()
	tb.waitFor(page)
	if got := tb.text(chromedp.CSS(".account-name")); got != "Signed in as "+name {
		tb.t.Errorf("header says %q, want signed in as %s", got, name)
	}
}

// text returns the visible text of the first element matching sel.
func (tb *tab) text(sel chromedp.CSS) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(sel, chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("read text of %s: %v", sel, err)
	}
	return s
}

// path is the current page's path and query.
func (tb *tab) path() string {
	tb.t.Helper()
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatalf("location: %v", err)
	}
	return strings.TrimPrefix(loc, tb.baseURL)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// press sends keys to whatever has focus, as a keyboard does.
func (tb *tab) press(keys string) {
	tb.t.Helper()
	tb.do(fmt.Sprintf("press %q", keys), chromedp.KeyEvent(keys))
}

// focused describes document.activeElement and whether its focus is visible.
type focused struct {
	Tag     string `json:"tag"`
	ID      string `json:"id"`
	Text    string `json:"text"`
	Visible bool   `json:"visible"`
	Style   string `json:"style"`
}

const focusedJS = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {tag: 'BODY', id: '', text: '', visible: false, style: ''};
  const cs = getComputedStyle(el);
  const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0;
  const shadow = !!cs.boxShadow && cs.boxShadow !== 'none';
  return {tag: el.tagName, id: el.id, text: (el.textContent || '').trim().slice(0, 40),
          visible: outline || shadow, style: 'outline: ' + cs.outline + '; box-shadow: ' + cs.boxShadow};
})()`

func (tb *tab) focused() focused { return eval[focused](tb, focusedJS) }

// tabTo presses Tab until the element with id has focus, checking on the way
// that every element that takes focus shows it.
func (tb *tab) tabTo(id string) {
	tb.t.Helper()
	for range 40 {
		tb.press(kb.Tab)
		f := tb.focused()
		if !f.Visible {
			tb.t.Errorf("keyboard focus on %s#%s %q is not visible (%s)", f.Tag, f.ID, f.Text, f.Style)
		}
		if f.ID == id {
			return
		}
	}
	tb.t.Fatalf("Tab never reached #%s", id)
}

// tabToText presses Tab until an element with this tag and text has focus.
func (tb *tab) tabToText(tag, text string) {
	tb.t.Helper()
	for range 40 {
		tb.press(kb.Tab)
		f := tb.focused()
		if !f.Visible {
			tb.t.Errorf("keyboard focus on %s#%s %q is not visible (%s)", f.Tag, f.ID, f.Text, f.Style)
		}
		if f.Tag == tag && f.Text == text {
			return
		}
	}
	tb.t.Fatalf("Tab never reached the %s %q", tag, text)
}

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

// journey is one test's portal and browser, timed.
type journey struct {
	t    *testing.T
	name string
	site *site
	*tab
}

// startJourney gives t its own portal (extra: more PORTAL_* settings) and
// its own tab, and logs how long the journey took.
func startJourney(t *testing.T, name string, extra map[string]string) *journey {
	t.Helper()
	if noBrowser != "" {
		t.Skip(noBrowser)
	}
	t.Parallel()
	s := newSite(t, extra)
	j := &journey{t: t, name: name, site: s, tab: newTab(t, s.URL, name)}
	start := time.Now()
	t.Cleanup(func() { t.Logf("journey %s took %s", name, time.Since(start).Round(time.Millisecond)) })
	return j
}

// chooseFiles puts files into a file input, as a person does in the file
// chooser that opens when they click "Choose files".
func (tb *tab) chooseFiles(name string, paths ...string) {
	tb.t.Helper()
	tb.do("choose files for "+name, chromedp.SetUploadFiles(field(name), paths, chromedp.NodeVisible))
}

// chooseFilesByKeyboard presses key (Space or Enter) on the focused file
// input, which opens the browser's file chooser, and picks paths in it.
//
// The one step here that is not a key press: headless chromium has no file
// chooser window to type a path into, so the chooser is intercepted
// (Page.setInterceptFileChooserDialog) and the files are handed to the input
// it was opened for (DOM.setFileInputFiles on the node of the
// Page.fileChooserOpened event), as the operating system's dialog would.
// The page itself was reached and driven by keys alone: the chooser opens
// only because the key press asked for it, which the test checks.
func (tb *tab) chooseFilesByKeyboard(key string, paths ...string) {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true}); err != nil {
		tb.t.Fatalf("intercept the file chooser: %v", err)
	}
	defer func() {
		if _, err := chromedp.Call(tb.ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: false}); err != nil {
			tb.t.Errorf("stop intercepting the file chooser: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	ev, err := chromedp.Run(ctx, chromedp.WaitEvent(page.FileChooserOpened, nil, chromedp.KeyEvent(key)))
	if err != nil {
		f := tb.focused()
		tb.t.Fatalf("pressing %q on %s#%s opened no file chooser: %v", key, f.Tag, f.ID, err)
	}
	if ev.BackendNodeID == 0 {
		tb.t.Fatalf("the file chooser that opened belongs to no file input: %+v", ev)
	}
	if len(paths) > 1 && ev.Mode != page.FileChooserOpenedModeSelectMultiple {
		tb.t.Fatalf("the file chooser allows one file (%s), want several", ev.Mode)
	}
	if _, err := chromedp.Call(tb.ctx, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: paths, BackendNodeID: ev.BackendNodeID}); err != nil {
		tb.t.Fatalf("choose %q in the file chooser: %v", paths, err)
	}
}

// allowDownloads makes the tab's browser context save downloads into a new
// temporary directory, which it returns (headless chromium refuses
// downloads until told where to put them).
func (tb *tab) allowDownloads() string {
	tb.t.Helper()
	dir := tb.t.TempDir()
	id := chromedp.FromContext(tb.ctx).BrowserContextID
	if _, err := chromedp.Call(tb.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: id, DownloadPath: dir,
	}); err != nil {
		tb.t.Fatalf("allow downloads: %v", err)
	}
	return dir
}

// download clicks a download link (its visible text is the file's name) and
// waits for the file to land in dir, complete, under the name the portal
// gave it; it returns the file's bytes.
func (tb *tab) download(dir, name string, wantSize int) []byte {
	tb.t.Helper()
	tb.do("click the download link "+name, chromedp.Click(link(name), chromedp.NodeVisible))
	return tb.downloaded(dir, name, wantSize)
}

// downloaded waits for a download already started (a click, or Enter on the
// focused link) to land in dir (see allowDownloads), complete, under name;
// it returns the file's bytes.
func (tb *tab) downloaded(dir, name string, wantSize int) []byte {
	tb.t.Helper()
	path := filepath.Join(dir, name)
	deadline := time.Now().Add(waitTimeout)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() == int64(wantSize) {
			b, err := os.ReadFile(path)
			if err != nil {
				tb.t.Fatal(err)
			}
			return b
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dir)
			var got []string
			for _, e := range entries {
				fi, _ := e.Info()
				got = append(got, fmt.Sprintf("%s (%d bytes)", e.Name(), fi.Size()))
			}
			tb.t.Fatalf("download of %s (%d bytes) did not complete in %s; the download folder holds %q", name, wantSize, waitTimeout, got)
		}
		time.Sleep(100 * time.Millisecond)
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
