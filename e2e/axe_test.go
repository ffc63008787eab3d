package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axeVersion is the axe-core major version installed from the npm registry
// at test time (never committed).
const axeVersion = "axe-core@4"

var (
	axeOnce sync.Once
	// axeSource is axe.min.js; empty when it could not be had.
	axeSource string
	// noAxe says why (local runs without npm or registry access).
	noAxe string
)

// axeDir is where npm installs axe-core: $SECUREPORTAL_AXE_DIR, else the
// user cache directory (~/.cache/secureportal-axe), kept between runs.
func axeDir() (string, error) {
	if d := os.Getenv("SECUREPORTAL_AXE_DIR"); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(c, "secureportal-axe"), nil
}

// prepareAxe loads axe.min.js (once per run), running `npm install` first
// when it is absent. Without it the journeys still run and log on every page
// that accessibility was not checked; with CI=true they fail instead.
func prepareAxe() { axeOnce.Do(loadAxe) }

func loadAxe() {
	dir, err := axeDir()
	if err != nil {
		noAxe = "axe-core: no cache directory: " + err.Error()
		return
	}
	js := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	if _, err := os.Stat(js); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			noAxe = "axe-core: npm not found (Debian: apt-get install -y npm), so accessibility is not checked"
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			noAxe = "axe-core: " + err.Error()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", "--silent", axeVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			noAxe = fmt.Sprintf("axe-core: npm install --prefix %s %s: %v\n%s", dir, axeVersion, err, out)
			return
		}
	}
	b, err := os.ReadFile(js)
	if err != nil {
		noAxe = "axe-core: " + err.Error()
		return
	}
	axeSource = string(b)
}

// axeViolation is the part of an axe result a developer needs to fix it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  string `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// axeRunJS runs axe against WCAG 2.0/2.1 A and AA on the whole document.
const axeRunJS = `axe.run(document, {
  runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
  resultTypes: ['violations'],
}).then((r) => r.violations.map((v) => ({
  id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
  nodes: v.nodes.map((n) => ({target: n.target.join(' '), html: n.html, summary: n.failureSummary || ''})),
})))`

// runAxe injects axe.min.js into the current page (once) and runs it.
func runAxe(ctx context.Context) ([]axeViolation, error) {
	inject := "typeof axe === 'object' || (() => {\n" + axeSource + "\n;return true;})()"
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](inject)); err != nil {
		return nil, fmt.Errorf("inject axe-core: %w", err)
	}
	return chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRunJS, chromedp.EvalAwaitPromise))
}

// axeCheck runs axe on the current page. Serious and critical violations
// fail the test; lesser ones are logged.
func (tb *tab) axeCheck(name string) {
	tb.t.Helper()
	prepareAxe()
	if axeSource == "" {
		if inCI() {
			tb.t.Fatalf("%s (CI=true: the accessibility check must run)", noAxe)
		}
		tb.t.Logf("page %s: accessibility NOT checked: %s", name, noAxe)
		return
	}
	violations, err := runAxe(tb.ctx)
	if err != nil {
		tb.t.Fatalf("page %s: run axe: %v", name, err)
	}
	for _, v := range violations {
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, fmt.Sprintf("    %s\n      %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n      ")))
		}
		msg := fmt.Sprintf("page %s (%s): axe %s [%s]: %s (%s)\n%s", name, tb.path(), v.ID, v.Impact, v.Help, v.HelpURL, strings.Join(nodes, "\n"))
		if v.Impact == "serious" || v.Impact == "critical" {
			tb.t.Error(msg)
		} else {
			tb.t.Log("not failing: " + msg)
		}
	}
}

// checkPage is called on every page a journey reaches: no browser problem so
// far (console errors, failed requests), no CSP violation, no serious or
// critical axe violation; then screenshots at desktop and phone size when
// SCREENSHOTS_DIR is set.
func (tb *tab) checkPage(name string) {
	tb.t.Helper()
	tb.reportProblems("before or on page " + name)
	for _, v := range tb.cspViolations() {
		tb.t.Errorf("page %s: Content Security Policy violation: %s", name, v)
	}
	tb.axeCheck(name)
	tb.screenshots(name)
}

// screenshotsDir is $SCREENSHOTS_DIR; a relative path is taken from the
// repository root (go test runs in e2e/), so `SCREENSHOTS_DIR=screenshots`
// fills the ignored /screenshots/ folder.
func screenshotsDir() string {
	d := os.Getenv("SCREENSHOTS_DIR")
	if d == "" || filepath.IsAbs(d) {
		return d
	}
	return filepath.Join("..", d)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// screenshots saves full-page PNGs of the current page at 1280×900 and at a
// 390×844 phone viewport (mobile emulation), then restores the desktop size.
func (tb *tab) screenshots(name string) {
	tb.t.Helper()
	dir := screenshotsDir()
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	tb.mu.Lock()
	tb.shots++
	n := tb.shots
	tb.mu.Unlock()
	base := unsafeName.ReplaceAllString(fmt.Sprintf("%s-%02d-%s", tb.journey, n, name), "-")
	shoot := func(suffix string, viewport chromedp.Action[chromedp.Void]) {
		tb.do("set the viewport", viewport)
		png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			tb.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, base+"-"+suffix+".png"), png, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
	shoot("phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	shoot("desktop", chromedp.EmulateViewport(desktopWidth, desktopHeight))
}

// TestHarnessCatchesProblems proves the listeners and axe actually fail a
// journey: a page with a console error, an uncaught exception, a missing
// image, a 500, a CSP violation and an unlabelled field must produce each
// complaint. (Without this a broken listener would pass every journey.)
func TestHarnessCatchesProblems(t *testing.T) {
	if noBrowser != "" {
		t.Skip(noBrowser)
	}
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self'")
		fmt.Fprint(w, `<!DOCTYPE html><html lang="en"><head><title>broken</title><script src="/bad.js"></script></head>
<body><main><h1>Broken on purpose</h1>
<img src="/missing.png" alt="missing"><img src="/boom.png" alt="boom">
<img src="https://example.invalid/x.png" alt="blocked by CSP">
<form><input type="text" name="nolabel"></form></main></body></html>`)
	})
	mux.HandleFunc("/bad.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `console.error("deliberate console error"); setTimeout(() => { throw new Error("deliberate exception"); }, 0);`)
	})
	mux.HandleFunc("/missing.png", http.NotFound)
	mux.HandleFunc("/boom.png", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tb := newTab(t, srv.URL, "harness-self-test")
	// What this page provokes is expected: do not let newTab's cleanup fail on it.
	defer tb.takeProblems()
	tb.navigate("/")
	tb.do("let the page settle", chromedp.Sleep(300*time.Millisecond))

	problems := strings.Join(tb.takeProblems(), "\n")
	for _, want := range []string{"deliberate console error", "deliberate exception", "HTTP 404", "HTTP 500"} {
		if !strings.Contains(problems, want) {
			t.Errorf("listeners missed %q; recorded:\n%s", want, problems)
		}
	}
	if csp := tb.cspViolations(); len(csp) == 0 {
		t.Errorf("the CSP recorder saw no violation for an image from another origin")
	}
	prepareAxe()
	if axeSource == "" {
		if inCI() {
			t.Fatal(noAxe)
		}
		t.Skip(noAxe)
	}
	violations, err := runAxe(tb.ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range violations {
		found = found || v.ID == "label"
	}
	if !found {
		t.Errorf("axe did not report the unlabelled field; got %+v", violations)
	}
}
