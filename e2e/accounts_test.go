package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Journey 4 (issue 7): the provider forgets the password, resets it from the
// emailed link (after one slip: passwords that do not match), and signs in
// with the new one; the old one no longer works.
func TestJourney4ForgotPassword(t *testing.T) {
	j := startJourney(t, "J4 forgot password", nil)
	email := "dr.rivera@clinic.example"
	j.site.createProvider(email, "Dr. Ana Rivera", goodPassword)

	j.navigate("/login")
	j.waitFor(testid("login-page"))
	j.checkPage("sign-in")

	j.click(link("Forgot password?"))
	j.waitFor(testid("forgot-page"))
	j.checkPage("forgot-password")

	j.typeInto("email", email)
	j.click(button("Email me a link"))
	j.waitFor(testid("notice"))
	if got := j.text(testid("notice")); !strings.Contains(got, "we have emailed it a link") {
		t.Errorf("confirmation after asking for a reset link = %q", got)
	}
	j.checkPage("forgot-password-sent")

	j.navigate(j.site.mailLink(email, "reset your", "/reset-password/"))
	j.waitFor(testid("reset-page"))
	j.checkPage("reset-password")

	// A slip: the two passwords differ. The page must say so accessibly.
	j.typeInto("password", otherPassword)
	j.typeInto("password_confirm", otherPassword+" again")
	j.click(button("Change password"))
	j.waitFor(testid("error-summary"))
	j.expectErrorSummary("password_confirm")
	j.checkPage("reset-password-mismatch")

	j.typeInto("password", otherPassword)
	j.typeInto("password_confirm", otherPassword)
	j.click(button("Change password"))
	j.waitFor(testid("login-page"))
	if p := j.path(); !strings.HasPrefix(p, "/login?reason=reset") {
		t.Errorf("after the reset the browser is at %s, want /login?reason=reset", p)
	}
	if got := j.text(testid("notice")); !strings.Contains(got, "password has been changed") {
		t.Errorf("sign-in notice after the reset = %q", got)
	}
	j.checkPage("sign-in-after-reset")

	// The old password is gone...
	j.typeInto("email", email)
	j.typeInto("password", goodPassword)
	j.click(button("Sign in"))
	j.waitFor(testid("login-failure"))
	j.checkPage("sign-in-old-password")

	// ...the new one works.
	j.typeInto("email", email)
	j.typeInto("password", otherPassword)
	j.click(button("Sign in"))
	j.expectSignedInAt(testid("inbox-page"), "Dr. Ana Rivera")
	j.checkPage("inbox")

	j.click(button("Sign out"))
	j.waitFor(testid("login-page"))
	if got := j.text(testid("notice")); !strings.Contains(got, "signed out") {
		t.Errorf("notice after signing out = %q", got)
	}
	j.checkPage("signed-out")
}

// Journey 5 (issue 7): an expired registration link leads to "send me a new
// link", and the new link to a completed registration.
//
// The link's lifetime comes from PORTAL_REGISTRATION_TTL; the journey lets it
// pass by moving the portal's account clock forward instead of sleeping, so
// the new link (which has the same lifetime) cannot expire while the browser
// types on a busy machine.
func TestJourney5ExpiredRegistrationLink(t *testing.T) {
	const ttl = 10 * time.Minute
	j := startJourney(t, "J5 expired registration link", map[string]string{"PORTAL_REGISTRATION_TTL": ttl.String()})
	email := "front.desk@valleyclinic.example"
	j.site.createProvider(email, "", "")
	first := j.site.mailLink(email, "registration", "/register/")

	j.site.advanceClock(ttl + time.Second)
	j.navigate(first)
	j.waitFor(testid("link-problem-page"))
	if got := j.text(chromedp.CSS("h1")); got != "This link no longer works" {
		t.Errorf("expired link page heading = %q", got)
	}
	j.checkPage("expired-registration-link")

	j.click(button("Send me a new link"))
	j.waitFor(testid("notice"))
	if got := j.text(testid("notice")); !strings.Contains(got, "we have emailed a new link") {
		t.Errorf("confirmation after asking for a new link = %q", got)
	}
	j.checkPage("new-registration-link-sent")

	second := j.site.mailLink(email, "registration", "/register/")
	if second == first {
		t.Fatal("the new email carries the expired link again")
	}
	j.navigate(second)
	j.waitFor(testid("register-page"))
	j.checkPage("register")

	j.typeInto("name", "Valley Clinic Front Desk")
	j.typeInto("password", goodPassword)
	j.typeInto("password_confirm", goodPassword)
	j.click(button("Register and open my messages"))
	j.expectSignedInAt(testid("inbox-page"), "Valley Clinic Front Desk")
	// A new provider's inbox is empty and says what will appear there.
	j.expectEmptyInbox("When Health Net sends you a secure message, it appears here")
	j.checkPage("inbox-empty")
	j.expectFitsPhone("inbox-empty")
}

// Journey 8 (issue 7): after the idle timeout the provider is signed out,
// told why, and after signing in again lands where they were going.
func TestJourney8IdleTimeout(t *testing.T) {
	const idle = 3 * time.Second
	j := startJourney(t, "J8 idle timeout", map[string]string{"PORTAL_SESSION_IDLE": idle.String()})
	email := "billing@harborhealth.example"
	j.site.createProvider(email, "Harbor Health Billing", goodPassword)

	j.navigate("/login")
	j.waitFor(testid("login-page"))
	j.checkPage("sign-in")
	j.typeInto("email", email)
	j.typeInto("password", goodPassword)
	j.click(button("Sign in"))
	j.expectSignedInAt(testid("inbox-page"), "Harbor Health Billing")
	j.checkPage("inbox")

	// The screen stays open, untouched, past the idle timeout.
	j.do("stay idle", chromedp.Sleep(idle+500*time.Millisecond))
	j.navigate("/account")
	j.waitFor(testid("login-page"))
	if p := j.path(); !strings.HasPrefix(p, "/login?") || !strings.Contains(p, "reason=idle") {
		t.Errorf("after the idle timeout /account led to %s, want /login?reason=idle…", p)
	}
	if got := j.text(testid("notice")); !strings.Contains(got, "signed out after a period without activity") {
		t.Errorf("sign-in notice after the idle timeout = %q", got)
	}
	j.checkPage("signed-out-idle")

	j.typeInto("email", email)
	j.typeInto("password", goodPassword)
	j.click(button("Sign in"))
	j.waitFor(testid("account-page"))
	if got := j.text(testid("account-email")); got != email {
		t.Errorf("account page shows %q, want %q", got, email)
	}
	j.checkPage("account")
}

// A form with errors, as a screen-reader user meets it: registration with
// passwords that do not match and no name. The summary is announced
// (role=alert), each error links to its field, the fields are marked invalid
// and described by their messages, and following a link puts focus in the
// field.
func TestRegistrationErrorsAreAnnouncedAndLinked(t *testing.T) {
	j := startJourney(t, "registration errors", nil)
	email := "office@sunrisepeds.example"
	j.site.createProvider(email, "", "")

	j.navigate(j.site.mailLink(email, "registration", "/register/"))
	j.waitFor(testid("register-page"))
	j.checkPage("register")
	j.typeInto("password", goodPassword)
	j.typeInto("password_confirm", otherPassword)
	j.click(button("Register and open my messages"))
	j.waitFor(testid("error-summary"))
	j.expectErrorSummary("name", "password_confirm")
	j.checkPage("register-errors")

	j.do("follow the error link", chromedp.Click(chromedp.CSS(`[data-testid="error-summary"] a[href="#field-password_confirm"]`), chromedp.NodeVisible))
	if f := j.focused(); f.ID != "field-password_confirm" {
		t.Errorf("following the error link focused %s#%s, want #field-password_confirm", f.Tag, f.ID)
	}
}

// A provider changes the password from the account page: a wrong current
// password is announced and linked to its field, then the change goes
// through, the account page confirms it, the notice email arrives, and the
// new password is the one that signs in.
func TestChangePasswordFromTheAccountPage(t *testing.T) {
	j := startJourney(t, "change password", nil)
	email := "frontdesk@valleycardio.example"
	j.site.createProvider(email, "Valley Cardiology", goodPassword)
	j.signInAs(email, "Valley Cardiology", testid("inbox-page"))

	j.click(link("Your account"))
	j.waitFor(testid("account-page"))
	j.click(link("Change your password"))
	j.waitFor(testid("change-password-page"))
	j.checkPage("change-password")

	j.typeInto("current_password", "not the password at all")
	j.typeInto("password", otherPassword)
	j.typeInto("password_confirm", otherPassword)
	j.click(button("Change password"))
	j.waitFor(testid("change-password-page"))
	j.expectErrorSummary("current_password")
	j.checkPage("change-password-wrong-current")

	j.typeInto("current_password", goodPassword)
	j.typeInto("password", otherPassword)
	j.typeInto("password_confirm", otherPassword)
	j.click(button("Change password"))
	j.waitFor(testid("account-page"))
	if got := j.text(testid("notice")); !strings.Contains(got, "Your password was changed.") {
		t.Errorf("account page after the change says %q", got)
	}
	j.checkPage("account-password-changed")
	j.site.mailTo(email, "password was changed")

	j.click(button("Sign out"))
	j.waitFor(testid("login-page"))
	j.typeInto("email", email)
	j.typeInto("password", otherPassword)
	j.click(button("Sign in"))
	j.expectSignedInAt(testid("inbox-page"), "Valley Cardiology")
}
