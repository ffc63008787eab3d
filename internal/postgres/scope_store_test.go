package postgres_test

import (
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

// scopeWorld is two providers, two representatives in one team, one in no
// team, an admin, and three threads with one attachment each:
//
//	direct: loner (no team) -> p1           seen by loner, p1
//	toTeam: p2 -> the team (no owner)       seen by p2, s1, s2
//	shared: s1 (in one team) -> p1          seen by s1 (owner), s2 (team), p1
type scopeWorld struct {
	*storeFixture
	p1, p2, s1, s2, loner, admin accounts.User
	direct, toTeam, shared       string
	unknown                      string // a well-formed id of no thread
}

func newScopeWorld(t *testing.T) *scopeWorld {
	t.Helper()
	f := newStoreFixture(t)
	w := &scopeWorld{storeFixture: f,
		p1: f.user(accounts.RoleProvider, accounts.StatusActive), p2: f.user(accounts.RoleProvider, accounts.StatusActive),
		s1: f.user(accounts.RoleStaff, accounts.StatusActive), s2: f.user(accounts.RoleStaff, accounts.StatusActive),
		loner: f.user(accounts.RoleStaff, accounts.StatusActive), admin: f.user(accounts.RoleAdmin, accounts.StatusActive),
		unknown: "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
	}
	team := f.team("Provider Services", w.s1, w.s2)
	w.direct = f.threadToProvider(w.loner, w.p1, "direct", "scan.pdf")
	w.toTeam = f.threadToTeam(w.p2, team, "to team", "referral.pdf")
	w.shared = f.threadToProvider(w.s1, w.p1, "shared", "eob.pdf")
	return w
}

// visibility is who may see each thread; everyone else, and any admin
// without a grant, must get messaging.ErrNotFound.
func (w *scopeWorld) visibility() []struct {
	name    string
	viewer  messaging.Viewer
	threads []string
} {
	return []struct {
		name    string
		viewer  messaging.Viewer
		threads []string
	}{
		{"provider p1 (own threads only)", asProvider(w.p1), []string{w.direct, w.shared}},
		{"provider p2 (own thread only)", asProvider(w.p2), []string{w.toTeam}},
		{"owner s1 (own and team's)", asStaff(w.s1), []string{w.toTeam, w.shared}},
		{"teammate s2 (team's)", asStaff(w.s2), []string{w.toTeam, w.shared}},
		{"loner (own only)", asStaff(w.loner), []string{w.direct}},
		{"admin without a grant", asEmergency(w.admin), nil},
		{"provider p2 posing as staff", messaging.Viewer{UserID: w.p2.ID, Staff: true}, nil},
	}
}

func (w *scopeWorld) all() []string { return []string{w.direct, w.toTeam, w.shared, w.unknown} }

func TestThreadOutsideViewerScopeIsNotFound(t *testing.T) {
	w := newScopeWorld(t)
	for _, c := range w.visibility() {
		for _, id := range w.all() {
			visible := slices.Contains(c.threads, id)
			reads := w.count(`SELECT count(*) FROM message_reads WHERE user_id = $1`, c.viewer.UserID)
			th, err := w.messages.Thread(w.ctx, c.viewer, id)
			if visible {
				if err != nil || th.ID != id || len(th.Messages) == 0 || th.Messages[0].Body == "" {
					t.Errorf("%s: thread %s: %v, %d messages; want it readable", c.name, id, err, len(th.Messages))
				}
				continue
			}
			wantStoreErr(t, c.name+": thread outside scope", err, messaging.ErrNotFound)
			if th.Subject != "" || th.Messages != nil {
				t.Errorf("%s: a refused thread leaked its subject %q or %d messages", c.name, th.Subject, len(th.Messages))
			}
			if n := w.count(`SELECT count(*) FROM message_reads WHERE user_id = $1`, c.viewer.UserID); n != reads {
				t.Errorf("%s: looking at a thread outside scope recorded read receipts", c.name)
			}
		}
	}
}

func TestInboxListsExactlyTheThreadsInViewerScope(t *testing.T) {
	w := newScopeWorld(t)
	for _, c := range w.visibility() {
		var got []string
		for id := range w.inbox(c.viewer, messaging.FilterAll) {
			got = append(got, id)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(c.threads))
		if !slices.Equal(got, want) {
			t.Errorf("%s: inbox %v, want %v", c.name, got, want)
		}
	}
}

func TestAttachmentOutsideViewerScopeIsNotFound(t *testing.T) {
	w := newScopeWorld(t)
	names := map[string]string{w.direct: "scan.pdf", w.toTeam: "referral.pdf", w.shared: "eob.pdf"}
	for _, c := range w.visibility() {
		for _, threadID := range []string{w.direct, w.toTeam, w.shared} {
			id := w.attachmentIDs(threadID)[0]
			downloads := w.audits("message.downloaded")
			a, r, err := w.messages.OpenAttachment(w.ctx, c.viewer, id)
			if !slices.Contains(c.threads, threadID) {
				wantStoreErr(t, c.name+": attachment outside scope", err, messaging.ErrNotFound)
				if r != nil || a.Name != "" {
					t.Errorf("%s: a refused attachment came with its name %q or bytes", c.name, a.Name)
				}
				if w.audits("message.downloaded") != downloads {
					t.Errorf("%s: a refused download was audited as a download", c.name)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: attachment of a thread in scope: %v", c.name, err)
				continue
			}
			body, err := io.ReadAll(r)
			r.Close()
			if err != nil || a.Name != names[threadID] || string(body) != "contents of "+names[threadID] {
				t.Errorf("%s: attachment %q = %q, %v; want %q", c.name, a.Name, body, err, names[threadID])
			}
			if w.audits("message.downloaded") != downloads+1 {
				t.Errorf("%s: the download was not audited", c.name)
			}
		}
	}
	_, _, err := w.messages.OpenAttachment(w.ctx, asStaff(w.s1), w.unknown)
	wantStoreErr(t, "unknown attachment", err, messaging.ErrNotFound)
}

func TestReplyOutsideViewerScopeIsNotFound(t *testing.T) {
	w := newScopeWorld(t)
	for _, c := range w.visibility() {
		for _, id := range w.all() {
			before := len(w.messageIDs(id))
			err := w.messages.Reply(w.ctx, c.viewer, id, messaging.NewMessage{Body: "reply from " + c.name})
			after := len(w.messageIDs(id))
			if slices.Contains(c.threads, id) {
				if err != nil || after != before+1 {
					t.Errorf("%s: reply in scope: %v, %d -> %d messages", c.name, err, before, after)
				}
				continue
			}
			wantStoreErr(t, c.name+": reply outside scope", err, messaging.ErrNotFound)
			if after != before {
				t.Errorf("%s: a refused reply was stored", c.name)
			}
		}
	}
}

// A provider's reply notifies the thread's representative, or every active
// member of its team when it has none; a representative's notifies the
// provider. Nobody outside the thread's scope is told.
func TestReplyNotifiesExactlyTheOtherSide(t *testing.T) {
	w := newScopeWorld(t)
	w.exec(`UPDATE users SET status = 'disabled' WHERE id = $1`, w.s2.ID)
	cases := []struct {
		name   string
		from   messaging.Viewer
		thread string
		want   []int64
	}{
		{"provider to owner", asProvider(w.p1), w.shared, []int64{w.s1.ID}},
		{"provider to team (disabled member left out)", asProvider(w.p2), w.toTeam, []int64{w.s1.ID}},
		{"representative to provider", asStaff(w.loner), w.direct, []int64{w.p1.ID}},
		{"teammate to provider", asStaff(w.s1), w.toTeam, []int64{w.p2.ID}},
	}
	for _, c := range cases {
		w.exec(`DELETE FROM river_job`)
		w.reply(c.from, c.thread, "news")
		got := w.column(`SELECT args->>'recipient_id' FROM river_job WHERE kind = 'message_notification' ORDER BY 1`)
		var want []string
		for _, id := range c.want {
			want = append(want, strconv.FormatInt(id, 10))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: notified %v, want %v", c.name, got, want)
		}
	}
}

// An admin reads a thread only under a live emergency grant, read-only,
// without read receipts, and each reading is audited as emergency access.
func TestEmergencyAccessIsTimeBoxedAndReadOnly(t *testing.T) {
	w := newScopeWorld(t)
	admin := asEmergency(w.admin)
	_, err := w.messages.Thread(w.ctx, admin, w.direct)
	wantStoreErr(t, "before any grant", err, messaging.ErrNotFound)
	wantStoreErr(t, "grant on an unknown thread", w.messages.GrantEmergency(w.ctx, admin, w.unknown, "audit", time.Now().Add(time.Hour)), messaging.ErrNotFound)

	if err := w.messages.GrantEmergency(w.ctx, admin, w.direct, "subpoena 42", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	accesses := w.audits(audit.EmergencyAccess)
	th, err := w.messages.Thread(w.ctx, admin, w.direct)
	if err != nil || th.Subject != "direct" {
		t.Fatalf("under a live grant: %v, subject %q", err, th.Subject)
	}
	if n := w.count(`SELECT count(*) FROM message_reads WHERE user_id = $1`, w.admin.ID); n != 0 {
		t.Errorf("an emergency reading left %d read receipts", n)
	}
	if w.audits(audit.EmergencyAccess) != accesses+1 {
		t.Error("the emergency reading was not audited")
	}
	_, err = w.messages.Thread(w.ctx, admin, w.shared)
	wantStoreErr(t, "another thread than the granted one", err, messaging.ErrNotFound)
	wantStoreErr(t, "reply under a grant", w.messages.Reply(w.ctx, admin, w.direct, messaging.NewMessage{Body: "x"}), messaging.ErrNotFound)
	_, err = w.messages.Recall(w.ctx, admin, w.messageIDs(w.direct)[0])
	wantStoreErr(t, "recall under a grant", err, messaging.ErrNotFound)

	w.exec(`UPDATE emergency_access SET granted_at = now() - interval '2 hours', expires_at = now() - interval '1 second'`)
	_, err = w.messages.Thread(w.ctx, admin, w.direct)
	wantStoreErr(t, "after the grant expired", err, messaging.ErrNotFound)
	if got := w.inbox(admin, messaging.FilterAll); len(got) != 0 {
		t.Errorf("an expired grant still lists %d threads", len(got))
	}
}
