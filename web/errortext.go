package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
)

// The words a user reads when something fails, in one file. The domain
// packages say what went wrong: sentinel errors for conditions callers branch
// on (accounts.ErrLastAdmin, messaging.ErrWithdrawn), and FieldErrors that
// carry a sentence for the input they validate. Turning a sentinel into words
// happens here and nowhere else, so the wording is reviewed (and one day
// translated) in one place; handlers look their words up with fieldErrors,
// refusal and find instead of writing their own. A placeholder such as
// {action} is filled in by the handler that knows it.

// safeMessages are the only things a user is told about a failure that has
// no more specific words below: the internal cause stays in the log, next to
// the same request id.
var safeMessages = map[int]struct{ title, message string }{
	http.StatusBadRequest:            {"That request could not be understood", "Please go back, check what you entered and try again."},
	http.StatusForbidden:             {"That action was refused", "For your security the portal accepts forms only from its own pages. Please go back, reload the page and try again."},
	http.StatusNotFound:              {"Page not found", "There is nothing at this address. If you followed a link from an email, check that the whole link was copied."},
	http.StatusMethodNotAllowed:      {"That action is not available here", "Please go back and use the buttons on the page."},
	http.StatusNotImplemented:        {"That action is not available here", "Please go back and use the buttons on the page."},
	http.StatusRequestEntityTooLarge: {"That was too large", "What you sent is larger than the portal accepts. Please send less at once."},
	http.StatusTooManyRequests:       {"Too many attempts", "Please wait a few minutes before trying again."},
	http.StatusInternalServerError:   {"Something went wrong on our side", "The problem has been logged. Please try again in a few minutes; if it keeps happening, contact support and quote the reference below."},
	http.StatusServiceUnavailable:    {"The portal is busy", "Please try again in a moment."},
}

// loginFailure is the one answer to accounts.ErrInvalidCredentials at sign-in,
// for unknown user, wrong password, pending, locked and disabled accounts
// alike: telling them apart would tell an attacker which addresses have
// accounts.
const loginFailure = "The email address or password is not right. Check them and try again, or reset your password. After several failed attempts, sign-in is paused for a while."

// notTextTitle and notTextMessage answer a value that is not text (bytes
// that are not UTF-8, or a NUL): the message beside its field, or on a page
// of its own under the title when the form does not show the field.
const (
	notTextTitle   = "That could not be read as text"
	notTextMessage = "That contains characters that are not valid text. Please retype it."
)

// reauthFailure is the answer to accounts.ErrInvalidCredentials when a
// signed-in admin confirms their password: only the password can be wrong.
const reauthFailure = "That password is not right."

// problem is the words for a domain sentinel err, and where they go: beside
// a form field, or on a page of their own with a status and title.
type problem struct {
	err    error
	field  string
	status int
	title  string
	text   string
}

// find is the entry of table for err.
func find(table []problem, err error) (problem, bool) {
	for _, p := range table {
		if errors.Is(err, p.err) {
			return p, true
		}
	}
	return problem{}, false
}

// fieldText are the sentinels a user fixes in one field of the form they
// sent: the field the words stand beside, and the words.
var fieldText = []problem{
	{err: accounts.ErrEmailTaken, field: "email", text: "An account with this email already exists."},
	{err: messaging.ErrTeamExists, field: "name", text: "A team with this name exists."},
	{err: messaging.ErrNotAProvider, field: "to", text: "That address belongs to a staff account. Secure messages from here go to providers."},
	{err: messaging.ErrRecipientUnset, field: "to", text: "Choose one of the listed recipients."},
	{err: messaging.ErrProviderOff, field: "to", text: "That provider's account is disabled. Ask an administrator to enable it."},
	// Only the emergency-access form names a thread in a field; everywhere
	// else a thread that is not there (or not the viewer's) is a 404.
	{err: messaging.ErrNotFound, field: "thread", text: "There is no thread with this id."},
}

// fieldErrors says what to show beside the fields of a form that failed with
// err: the domain's own FieldErrors, or the words of fieldText for a
// sentinel whose field is one of formFields. ok is false for any other
// error, which the handler answers in its own way.
func fieldErrors(err error, formFields ...string) (fe accounts.FieldErrors, ok bool) {
	if errors.As(err, &fe) {
		return fe, true
	}
	if p, ok := find(fieldText, err); ok && slices.Contains(formFields, p.field) {
		return accounts.FieldErrors{p.field: p.text}, true
	}
	return nil, false
}

// refusalText are the admin changes the domain refused, shown on the page the
// admin came from after "Nothing was changed: ". {action} is the label of
// what was tried.
var refusalText = []problem{
	{err: accounts.ErrActionNotApplicable, text: "“{action}” does not apply to the account as it is now (it may have been done already)."},
	{err: accounts.ErrSelfAction, text: "admins cannot do that to their own account."},
	{err: accounts.ErrLastAdmin, text: "this is the last active admin."},
	{err: messaging.ErrNotStaff, text: "that address is not a representative's (staff) account."},
}

// refusal is the problem line for an admin change refused with err, or false
// when err is not a refusal.
func refusal(err error, action string) (string, bool) {
	p, ok := find(refusalText, err)
	if !ok {
		return "", false
	}
	return nothingChanged(fill(p.text, "{action}", action)), true
}

// nothingChanged says that a change was refused, and why.
func nothingChanged(why string) string { return "Nothing was changed: " + why }

// sendProblems answer a reply or new message that was refused with a page
// of its own: nothing was stored. {limits} is the upload limits in words.
var sendProblems = []problem{
	{err: messaging.ErrTooLarge, status: http.StatusRequestEntityTooLarge, title: "That was too large",
		text: "Nothing was sent. {limits} Go back, remove or split files, and send again."},
	{err: messaging.ErrTooManyFiles, status: http.StatusRequestEntityTooLarge, title: "That was too large",
		text: "Nothing was sent. {limits} Go back, remove or split files, and send again."},
	{err: messaging.ErrFileRefused, status: http.StatusUnprocessableEntity, title: "That file type cannot be sent",
		text: "Nothing was sent. Programs and scripts (for example .exe, .bat, .js) cannot be sent through Secure Messaging. Go back and remove the file."},
	{err: messaging.ErrWithdrawn, status: http.StatusGone, title: "This conversation was withdrawn",
		text: "It can no longer be answered. Start a new message instead."},
	{err: errKeptGone, status: http.StatusGone, title: "The kept files are gone",
		text: "Nothing was sent. Files kept while you signed in again wait 10 minutes, and are sent once. Go back, attach them again and send."},
}

// downloadProblems answer an attachment that cannot be downloaded.
var downloadProblems = []problem{
	{err: messaging.ErrWithdrawn, status: http.StatusGone, title: "This file was withdrawn",
		text: "Its sender withdrew it. Ask your representative if you need it again."},
}

// fill replaces placeholders in text: fill(text, "{action}", label).
func fill(text string, placeholderValue ...string) string {
	return strings.NewReplacer(placeholderValue...).Replace(text)
}
