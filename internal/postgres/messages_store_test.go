package postgres_test

import (
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Read state is per user: opening a thread marks the messages of others
// read for the one who opened it, once (one audit event per first opening),
// and never one's own messages.
func TestOpeningThreadMarksOthersMessagesReadOncePerUser(t *testing.T) {
	f := newStoreFixture(t)
	p := f.user(accounts.RoleProvider, accounts.StatusActive)
	s1, s2 := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	id := f.threadToTeam(p, f.team("Claims", s1, s2), "claim")

	unread := func(v messaging.Viewer) int { f.t.Helper(); return f.inbox(v, messaging.FilterAll)[id].Unread }
	steps := []struct {
		name                string
		open                messaging.Viewer
		wantUnreadS1        int
		wantUnreadS2        int
		wantUnreadP         int
		wantReadAudits      int
		wantProviderMsgRead bool // the provider sees their message as opened
	}{
		{"before anyone opens it", messaging.Viewer{}, 1, 1, 0, 0, false},
		{"s1 opens it", asStaff(s1), 0, 1, 0, 1, true},
		{"s1 opens it again: no second receipt", asStaff(s1), 0, 1, 0, 1, true},
		{"the provider opens it: own message is not theirs to read", asProvider(p), 0, 1, 0, 1, true},
		{"s2 opens it", asStaff(s2), 0, 0, 0, 2, true},
	}
	for _, st := range steps {
		if st.open.UserID != 0 {
			f.read(st.open, id)
		}
		if got := [3]int{unread(asStaff(s1)), unread(asStaff(s2)), unread(asProvider(p))}; got != [3]int{st.wantUnreadS1, st.wantUnreadS2, st.wantUnreadP} {
			t.Errorf("%s: unread s1, s2, provider = %v, want %v", st.name, got, [3]int{st.wantUnreadS1, st.wantUnreadS2, st.wantUnreadP})
		}
		if n := f.audits("message.read"); n != st.wantReadAudits {
			t.Errorf("%s: %d message.read audit events, want %d", st.name, n, st.wantReadAudits)
		}
		th, err := f.messages.Thread(f.ctx, asProvider(p), id)
		if err != nil {
			t.Fatal(err)
		}
		if opened := !th.Messages[0].ReadAt.IsZero(); opened != st.wantProviderMsgRead {
			t.Errorf("%s: provider sees their message opened = %v, want %v", st.name, opened, st.wantProviderMsgRead)
		}
	}
}

// A representative's message counts as opened only when the provider opens
// it: a teammate reading the thread is not the other side reading it.
func TestStaffMessageIsOpenedOnlyByTheProvider(t *testing.T) {
	f := newStoreFixture(t)
	p := f.user(accounts.RoleProvider, accounts.StatusActive)
	s1, s2 := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	f.team("Claims", s1, s2)
	id := f.threadToProvider(s1, p, "eob")

	f.read(asStaff(s2), id)
	if at := f.read(asStaff(s1), id).Messages[0].ReadAt; !at.IsZero() {
		t.Errorf("a teammate's reading shows as the provider opening it at %v", at)
	}
	f.read(asProvider(p), id)
	m := f.read(asStaff(s1), id).Messages[0]
	if m.ReadAt.IsZero() || !m.FromViewer || m.FromProvider {
		t.Errorf("after the provider opened it: %+v", m)
	}
}

// Recall is the sender's alone: anyone else, even a teammate who sees the
// thread, gets the not-found sentinel and the message stays readable.
func TestOnlyTheSenderCanRecallAMessage(t *testing.T) {
	f := newStoreFixture(t)
	p := f.user(accounts.RoleProvider, accounts.StatusActive)
	s1, s2, loner := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	f.team("Claims", s1, s2)
	id := f.threadToProvider(s1, p, "eob")
	f.reply(asProvider(p), id, "from the provider")
	ids := f.messageIDs(id)
	staffMsg, providerMsg := ids[0], ids[1]

	cases := []struct {
		name    string
		viewer  messaging.Viewer
		message string
	}{
		{"teammate who sees the thread", asStaff(s2), staffMsg},
		{"representative outside the thread", asStaff(loner), staffMsg},
		{"the provider (not staff)", asProvider(p), staffMsg},
		{"the provider posing as staff, own message", messaging.Viewer{UserID: p.ID, Staff: true}, providerMsg},
		{"the owner, on the provider's message", asStaff(s1), providerMsg},
		{"the owner, on no message", asStaff(s1), "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"},
	}
	for _, c := range cases {
		_, err := f.messages.Recall(f.ctx, c.viewer, c.message)
		wantStoreErr(t, c.name, err, messaging.ErrNotFound)
	}
	if n := f.count(`SELECT count(*) FROM messages WHERE recalled_at IS NOT NULL`); n != 0 {
		t.Errorf("%d messages recalled by someone other than their sender", n)
	}
	for _, m := range f.read(asProvider(p), id).Messages {
		if m.Withdrawn || m.Body == "" {
			t.Errorf("message %s unreadable after refused recalls", m.ID)
		}
	}
}

// A recalled message is withdrawn for everyone: its body, file names and
// bytes lose their keys, it no longer counts as unread nor gets a read
// receipt, and its attachment answers ErrWithdrawn. Recalling it again
// changes nothing.
func TestRecalledMessageIsWithdrawnEverywhere(t *testing.T) {
	f := newStoreFixture(t)
	p, s := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	id := f.threadToProvider(s, p, "wrong patient", "labs.pdf")
	msg, att := f.messageIDs(id)[0], f.attachmentIDs(id)[0]
	keys := f.count(`SELECT count(*) FROM data_keys`)

	got, err := f.messages.Recall(f.ctx, asStaff(s), msg)
	if err != nil || got != id {
		t.Fatalf("recall: %q, %v; want thread %s", got, err, id)
	}
	// The thread's only message: its subject goes too (issue 14; a subject
	// can be PHI). TestWithdrawAsksFirstAndTakesTheSubjectOfALoneMessage
	// (web) shows a thread with other messages keeping it.
	if n := f.count(`SELECT count(*) FROM data_keys`); n != keys-4 {
		t.Errorf("recall destroyed %d keys, want 4 (body, file name, file bytes, the lone message's subject)", keys-n)
	}
	if n := f.inbox(asProvider(p), messaging.FilterAll)[id].Unread; n != 0 {
		t.Errorf("a recalled message counts as %d unread", n)
	}
	for _, v := range []messaging.Viewer{asProvider(p), asStaff(s)} {
		th := f.read(v, id)
		m := th.Messages[0]
		if !m.Withdrawn || m.Body != "" || m.Attachments != nil {
			t.Errorf("viewer %d sees the recalled message as %+v", v.UserID, m)
		}
		if th.Subject != "" || !th.Withdrawn {
			t.Errorf("recalling the only message left the thread's subject: %q", th.Subject)
		}
		_, r, err := f.messages.OpenAttachment(f.ctx, v, att)
		wantStoreErr(t, "attachment of a recalled message", err, messaging.ErrWithdrawn)
		if r != nil {
			r.Close()
		}
	}
	if n := f.count(`SELECT count(*) FROM message_reads WHERE message_id = $1`, msg); n != 0 {
		t.Errorf("opening the thread recorded %d reads of the recalled message", n)
	}
	recalls := f.audits("message.recalled")
	if _, err := f.messages.Recall(f.ctx, asStaff(s), msg); err != nil {
		t.Errorf("recalling again: %v", err)
	}
	if f.audits("message.recalled") != recalls {
		t.Error("recalling an already recalled message was audited again")
	}
}
