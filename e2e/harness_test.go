package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
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
			// The pages are at http://localhost:PORT (passkeys need a
			// domain name, and the session cookie is host-only); localhost
			// is 127.0.0.1, never ::1, so the browser stays on 127.0.0.0/8.
			chromedp.Flag("host-resolver-rules", "MAP localhost 127.0.0.1"),
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
	// site is the portal the tab is on, when the test has one: its phone
	// apps and clock give the second step of staff and admin sign-ins.
	site *site

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
	j.tab.site = s
	start := time.Now()
	t.Cleanup(func() { t.Logf("journey %s took %s", name, time.Since(start).Round(time.Millisecond)) })
	return j
}
