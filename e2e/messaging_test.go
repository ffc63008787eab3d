package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// The Provider Services teams of the demo data.
const (
	teamLA = "Provider Services – Los Angeles County"
	teamSD = "Provider Services – San Diego County"
)

// createStaff adds an active representative to team (created if needed) and
// returns the user and the team's id.
func (s *site) createStaff(email, name, team string) (accounts.User, int64) {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.App.Accounts.CreateUser(ctx, email, name, accounts.RoleStaff, goodPassword, 0, "")
	if err != nil {
		s.t.Fatalf("create staff %s: %v", email, err)
	}
	teamID, err := postgres.EnsureTeam(ctx, s.App.Pool, team, "Cal MediConnect")
	if err != nil {
		s.t.Fatalf("team %s: %v", team, err)
	}
	if err := postgres.AddTeamMember(ctx, s.App.Pool, teamID, u.ID); err != nil {
		s.t.Fatalf("add %s to %s: %v", email, team, err)
	}
	return u, teamID
}

// testFile is a file on disk that a person attaches, and its bytes.
type testFile struct {
	name, path string
	data       []byte
}

// newTestFile writes a PDF-looking file of size random bytes into dir.
func newTestFile(t *testing.T, dir, name string, size int) testFile {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	copy(data, "%PDF-1.7\n")
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return testFile{name: name, path: path, data: data}
}

// uploads feeds files to the messaging service when a journey's starting
// point (an earlier message) is set up without the browser.
type uploads []testFile

func (u *uploads) Next() (messaging.Upload, error) {
	if len(*u) == 0 {
		return messaging.Upload{}, io.EOF
	}
	f := (*u)[0]
	*u = (*u)[1:]
	return messaging.Upload{Name: f.name, Body: bytes.NewReader(f.data)}, nil
}

// watchUploadJS runs just before the sender presses the send button: it
// watches the upload progress box of static/js/upload.js and keeps what it
// saw in sessionStorage, which outlives the page (upload.js leaves for the
// thread page as soon as the upload is done).
const watchUploadJS = `(() => {
  const box = document.querySelector('[data-upload-progress]');
  const bar = document.getElementById('upload-progress-bar');
  const status = box.querySelector('[data-upload-status]');
  const seen = {shown: false, max: 0, statuses: []};
  const look = () => {
    if (!box.hidden && bar.getClientRects().length > 0) seen.shown = true;
    seen.max = Math.max(seen.max, Number(bar.value));
    const s = status.textContent.trim();
    if (s && seen.statuses[seen.statuses.length - 1] !== s) seen.statuses.push(s);
    sessionStorage.setItem('e2e-upload', JSON.stringify(seen));
  };
  sessionStorage.removeItem('e2e-upload');
  new MutationObserver(look).observe(box, {attributes: true, childList: true, characterData: true, subtree: true});
  return true;
})()`

type uploadSeen struct {
	Shown    bool     `json:"shown"`
	Max      float64  `json:"max"`
	Statuses []string `json:"statuses"`
}

func (tb *tab) watchUpload() { eval[bool](tb, watchUploadJS) }

// expectUploadWatched checks, on the page after sending, that the progress
// bar appeared while the files uploaded and reached 100%.
func (tb *tab) expectUploadWatched(what string) {
	tb.t.Helper()
	seen := eval[uploadSeen](tb, `JSON.parse(sessionStorage.getItem('e2e-upload') || '{}')`)
	if !seen.Shown || seen.Max != 100 || !slices.Contains(seen.Statuses, "100% sent") {
		tb.t.Errorf("%s: the upload progress bar was not watched to the end: shown %v, highest value %v, statuses %q",
			what, seen.Shown, seen.Max, seen.Statuses)
	}
	tb.t.Logf("%s: upload progress seen: %q", what, seen.Statuses)
}

// count is how many elements match a CSS selector.
func (tb *tab) count(css string) int {
	tb.t.Helper()
	return eval[int](tb, fmt.Sprintf(`document.querySelectorAll(%q).length`, css))
}

// texts are the trimmed texts of every element matching a CSS selector.
func (tb *tab) texts(css string) []string {
	tb.t.Helper()
	return eval[[]string](tb, fmt.Sprintf(`[...document.querySelectorAll(%q)].map((e) => e.textContent.trim())`, css))
}

// signIn signs in from the sign-in page and waits for the landing page.
func (tb *tab) signIn(email, name string, landing chromedp.CSS) {
	tb.t.Helper()
	tb.navigate("/login")
	tb.waitFor(testid("login-page"))
	tb.typeInto("email", email)
	tb.typeInto("password", goodPassword)
	tb.click(button("Sign in"))
	tb.secondStep(email)
	tb.expectSignedInAt(landing, name)
}

// expectEmptyInbox checks a fresh inbox: no rows, the empty state explaining
// what will appear there.
func (tb *tab) expectEmptyInbox(wantText string) {
	tb.t.Helper()
	tb.waitFor(testid("empty-inbox"))
	if n := tb.count(`[data-testid="thread-row"]`); n != 0 {
		tb.t.Errorf("empty inbox shows %d conversations", n)
	}
	if got := tb.text(testid("empty-inbox")); !strings.Contains(got, wantText) {
		tb.t.Errorf("empty inbox says %q, want it to mention %q", got, wantText)
	}
}

var threadPath = regexp.MustCompile(`^/(?:staff/)?threads/([0-9a-f-]{36})(\?.*)?$`)

// threadID is the id in the current page's thread URL.
func (tb *tab) threadID() string {
	tb.t.Helper()
	m := threadPath.FindStringSubmatch(tb.path())
	if m == nil {
		tb.t.Fatalf("the browser is at %s, not on a thread", tb.path())
	}
	return m[1]
}

// expectSent checks the page after sending: the thread, with the notice.
func (tb *tab) expectSent(prefix string) string {
	tb.t.Helper()
	tb.waitFor(testid("thread-page"))
	if p := tb.path(); !strings.HasPrefix(p, prefix) || !strings.HasSuffix(p, "?sent=1") {
		tb.t.Errorf("after sending the browser is at %s, want %s{id}?sent=1", p, prefix)
	}
	if got := tb.text(testid("notice")); got != "Your message was sent securely." && got != "Su mensaje se envió de forma segura." {
		tb.t.Errorf("notice after sending = %q", got)
	}
	return tb.threadID()
}
