package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

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

// navLink selects a link of the main navigation (in English or Spanish)
// by the label it starts with (a badge such as an unread count may follow
// it).
func navLink(label string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//nav[@aria-label="Main" or @aria-label="Principal"]//a[starts-with(normalize-space(), %q)]`, label))
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
