package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
	"github.com/healthnet/secureportal/internal/practices"
)

// practiceOf starts a practice from mailbox's account, failing the test on
// an error.
func (f *storeFixture) practiceOf(svc *practices.Service, mailbox accounts.User, npi string) practices.Practice {
	f.t.Helper()
	p, err := svc.Start(f.ctx, mailbox, practices.Practice{Name: "Harbor Pediatrics", NPI: npi, County: "San Diego", LineOfBusiness: "Cal MediConnect"}, "127.0.0.1")
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// join invites u to admin's practice and accepts it as u.
func (f *storeFixture) join(svc *practices.Service, admin, u accounts.User) {
	f.t.Helper()
	if err := svc.Invite(f.ctx, admin, u.Email, "127.0.0.1"); err != nil {
		f.t.Fatal(err)
	}
	invites, err := svc.InvitesFor(f.ctx, u)
	if err != nil || len(invites) != 1 {
		f.t.Fatalf("invitations of %s: %v, %v; want one", u.Email, invites, err)
	}
	if err := svc.Accept(f.ctx, u, invites[0].ID, "127.0.0.1"); err != nil {
		f.t.Fatal(err)
	}
}

// A practice's members read and answer the mail addressed to its mailbox,
// as the provider side; a former member, another practice's member and a
// provider outside any practice get not-found, in every door of the store.
func TestPracticeMembersShareTheMailboxAndLeavingEndsIt(t *testing.T) {
	f := newStoreFixture(t)
	svc := practices.New(postgres.NewPracticeStore(f.pool, f.jobs), nil)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	mailbox, member := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleProvider, accounts.StatusActive)
	stranger, otherMailbox, otherMember := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleProvider, accounts.StatusActive)
	tid := f.threadToProvider(rep, mailbox, "Referral for the practice", "summary.pdf")
	own := f.threadToProvider(rep, member, "The member's own")

	f.practiceOf(svc, mailbox, "1234567893")
	f.practiceOf(svc, otherMailbox, "1245319599")
	f.join(svc, otherMailbox, otherMember)

	// Invited is not joined.
	if err := svc.Invite(f.ctx, mailbox, member.Email, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	outside := func(v accounts.User, who string) {
		t.Helper()
		if _, err := f.messages.Thread(f.ctx, asProvider(v), tid); !errors.Is(err, messaging.ErrNotFound) {
			t.Errorf("%s reads the practice's thread: %v, want not found", who, err)
		}
		if err := f.messages.Reply(f.ctx, asProvider(v), tid, messaging.NewMessage{Body: "x"}); !errors.Is(err, messaging.ErrNotFound) {
			t.Errorf("%s replies in the practice's thread: %v, want not found", who, err)
		}
		for _, a := range f.attachmentIDs(tid) {
			if _, body, err := f.messages.OpenAttachment(f.ctx, asProvider(v), a); !errors.Is(err, messaging.ErrNotFound) {
				if body != nil {
					body.Close()
				}
				t.Errorf("%s downloads the practice's file: %v, want not found", who, err)
			}
		}
		if _, ok := f.inbox(asProvider(v), messaging.FilterAll)[tid]; ok {
			t.Errorf("%s's inbox lists the practice's thread", who)
		}
	}
	outside(member, "an invitee who has not accepted")
	outside(otherMember, "another practice's member")
	outside(stranger, "a provider in no practice")

	invites, _ := svc.InvitesFor(f.ctx, member)
	if err := svc.Accept(f.ctx, stranger, invites[0].ID, "127.0.0.1"); !errors.Is(err, practices.ErrNotFound) {
		t.Errorf("accepting another's invitation: %v, want not found", err)
	}
	if err := svc.Accept(f.ctx, member, invites[0].ID, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	inbox := f.inbox(asProvider(member), messaging.FilterAll)
	if _, ok := inbox[tid]; !ok {
		t.Fatal("a member's inbox does not list the practice's thread")
	}
	if _, ok := inbox[own]; !ok {
		t.Error("a member's inbox lost their own thread")
	}
	if n := f.count(`SELECT count(*) FROM river_job WHERE kind = 'practice_invite_email'`); n != 2 {
		t.Errorf("%d invitation emails queued, want 2 (one per invitation)", n)
	}

	// The member opens it: the representative sees it opened by the
	// provider side, and the member's answer is the provider's.
	th := f.read(asProvider(member), tid)
	if len(th.Messages) != 1 || th.Messages[0].Body == "" || len(th.Messages[0].Attachments) != 1 {
		t.Fatalf("member's view of the thread: %+v", th.Messages)
	}
	if got := f.read(asStaff(rep), tid).Messages[0].ReadAt; got.IsZero() {
		t.Error("a member opened the message; the representative does not see it opened")
	}
	f.reply(asProvider(member), tid, "Front desk here: the patient is booked.")
	staffView := f.read(asStaff(rep), tid)
	if last := staffView.Messages[len(staffView.Messages)-1]; !last.FromProvider || last.SenderName == "" {
		t.Errorf("the member's reply, as staff see it: FromProvider %v, sender %q; want from the provider side, named", last.FromProvider, last.SenderName)
	}
	if _, ok := f.inbox(asStaff(rep), messaging.FilterAwaiting)[tid]; !ok {
		t.Error("after a member's reply the thread is not awaiting the representative's reply")
	}
	if staffView.Status != messaging.StatusOpen {
		t.Errorf("status after the member's reply: %s, want open", staffView.Status)
	}
	if f.count(`SELECT count(*) FROM river_job WHERE kind = 'message_notification' AND (args->>'recipient_id')::bigint = $1`, rep.ID) != 1 {
		t.Error("the member's reply did not notify the representative")
	}
	// ... and the mailbox sees it as its own side's: not unread.
	if got := f.inbox(asProvider(mailbox), messaging.FilterAll)[tid].Unread; got != 1 {
		t.Errorf("mailbox's unread count: %d, want 1 (the representative's message, not the member's reply)", got)
	}

	// The mailbox cannot leave; a member cannot invite or remove.
	wantStoreErr(t, "the mailbox leaves", svc.Leave(f.ctx, mailbox, "127.0.0.1"), practices.ErrMailboxStays)
	wantStoreErr(t, "a member invites", svc.Invite(f.ctx, member, stranger.Email, "127.0.0.1"), practices.ErrNotAdmin)
	wantStoreErr(t, "a member removes the mailbox", svc.RemoveMember(f.ctx, member, mailbox.ID, "127.0.0.1"), practices.ErrNotAdmin)
	wantStoreErr(t, "an admin removes another practice's member", svc.RemoveMember(f.ctx, mailbox, otherMember.ID, "127.0.0.1"), practices.ErrNotFound)

	// Leaving ends access at once.
	if err := svc.Leave(f.ctx, member, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	outside(member, "a former member")
	if _, ok := f.inbox(asProvider(member), messaging.FilterAll)[own]; !ok {
		t.Error("a former member lost their own thread")
	}
	if f.audits(practices.Joined) != 2 || f.audits(practices.Left) != 1 || f.audits(practices.Created) != 2 || f.audits(practices.Invited) != 2 {
		t.Errorf("audit: created %d, invited %d, joined %d, left %d; want 2, 2, 2, 1",
			f.audits(practices.Created), f.audits(practices.Invited), f.audits(practices.Joined), f.audits(practices.Left))
	}

	// Removal by an admin, too.
	f.join(svc, mailbox, stranger)
	if _, err := f.messages.Thread(f.ctx, asProvider(stranger), tid); err != nil {
		t.Fatalf("a new member reads the practice's thread: %v", err)
	}
	if err := svc.RemoveMember(f.ctx, mailbox, stranger.ID, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	outside(stranger, "a removed member")
}

// The rules of starting, inviting and joining: a valid NPI once in the
// portal, an address of a provider, one practice per account, and an
// invitation that expires.
func TestPracticeRules(t *testing.T) {
	f := newStoreFixture(t)
	now := time.Now()
	svc := practices.New(postgres.NewPracticeStore(f.pool, f.jobs), func() time.Time { return now })
	mailbox, other := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleProvider, accounts.StatusActive)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	fieldErr := func(what string, err error, field string) {
		t.Helper()
		var fe accounts.FieldErrors
		if !errors.As(err, &fe) || fe[field] == "" {
			t.Errorf("%s: %v, want a message for %q", what, err, field)
		}
	}

	_, err := svc.Start(f.ctx, mailbox, practices.Practice{Name: "", NPI: "1234567890", County: "", LineOfBusiness: "Dental"}, "")
	for _, field := range []string{"name", "npi", "county", "line_of_business"} {
		fieldErr("an empty practice with a bad check digit", err, field)
	}
	_, err = svc.Start(f.ctx, rep, practices.Practice{Name: "X", NPI: "1234567893", County: "LA", LineOfBusiness: "Medi-Cal"}, "")
	wantStoreErr(t, "staff start a practice", err, practices.ErrNotFound)
	f.practiceOf(svc, mailbox, "1234 567 893") // spaces as printed on a card
	_, err = svc.Start(f.ctx, other, practices.Practice{Name: "Copy", NPI: "1234567893", County: "LA", LineOfBusiness: "Medi-Cal"}, "")
	fieldErr("a second practice with the same NPI", err, "npi")
	_, err = svc.Start(f.ctx, mailbox, practices.Practice{Name: "Again", NPI: "1245319599", County: "LA", LineOfBusiness: "Medi-Cal"}, "")
	wantStoreErr(t, "a mailbox starts a second practice", err, practices.ErrInAPractice)

	fieldErr("inviting a representative", svc.Invite(f.ctx, mailbox, rep.Email, ""), "email")
	fieldErr("inviting a non-address", svc.Invite(f.ctx, mailbox, "front desk", ""), "email")
	fieldErr("inviting the mailbox itself", svc.Invite(f.ctx, mailbox, mailbox.Email, ""), "email")
	if err := svc.Invite(f.ctx, mailbox, other.Email, ""); err != nil {
		t.Fatal(err)
	}
	fieldErr("inviting twice", svc.Invite(f.ctx, mailbox, other.Email, ""), "email")

	// A new address gets a pending account, and its email a registration
	// link.
	if err := svc.Invite(f.ctx, mailbox, "New.Colleague@Clinic.example", ""); err != nil {
		t.Fatal(err)
	}
	if f.count(`SELECT count(*) FROM users WHERE email = 'new.colleague@clinic.example' AND role = 'provider' AND status = 'pending'`) != 1 ||
		f.count(`SELECT count(*) FROM river_job WHERE kind = 'practice_invite_email' AND (args->>'register')::boolean`) != 1 {
		t.Error("inviting a new address: want a pending provider account and an invitation email with a registration link")
	}

	// An expired invitation can be neither seen nor accepted, and may be
	// sent again.
	invites, _ := svc.InvitesFor(f.ctx, other)
	f.exec(`UPDATE practice_invites SET expires_at = now() - interval '1 second'`)
	if got, _ := svc.InvitesFor(f.ctx, other); len(got) != 0 {
		t.Errorf("expired invitations listed: %v", got)
	}
	wantStoreErr(t, "accepting an expired invitation", svc.Accept(f.ctx, other, invites[0].ID, ""), practices.ErrNotFound)
	if err := svc.Invite(f.ctx, mailbox, other.Email, ""); err != nil {
		t.Errorf("inviting again after expiry: %v", err)
	}

	// Declined is gone; withdrawn likewise, by an admin only.
	invites, _ = svc.InvitesFor(f.ctx, other)
	if err := svc.Decline(f.ctx, other, invites[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := svc.InvitesFor(f.ctx, other); len(got) != 0 {
		t.Errorf("declined invitation still listed: %v", got)
	}
	if err := svc.Invite(f.ctx, mailbox, other.Email, ""); err != nil {
		t.Fatal(err)
	}
	invites, _ = svc.InvitesFor(f.ctx, other)
	wantStoreErr(t, "a stranger withdraws", svc.Withdraw(f.ctx, other, invites[0].ID, ""), practices.ErrNotFound)
	if err := svc.Withdraw(f.ctx, mailbox, invites[0].ID, ""); err != nil {
		t.Fatal(err)
	}

	// One practice per account: a member of another practice cannot be
	// invited.
	second := f.user(accounts.RoleProvider, accounts.StatusActive)
	f.practiceOf(svc, second, "1245319599")
	fieldErr("inviting another practice's mailbox", svc.Invite(f.ctx, mailbox, second.Email, ""), "email")
}
