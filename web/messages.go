package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/i18n"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/practices"
	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/pages"
)

func (s *Server) viewer(r *http.Request) messaging.Viewer {
	u, _ := currentUser(r.Context())
	return messaging.Viewer{UserID: u.ID, Staff: u.Role == accounts.RoleStaff, Emergency: u.Role == accounts.RoleAdmin, IP: ClientIP(r.Context()).String()}
}

// requireRole lets only the given role through. Anyone else gets the same
// 404 as for a page that does not exist: the staff area's shape is nobody
// else's business.
func (s *Server) requireRole(role accounts.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, ok := currentUser(r.Context()); !ok || u.Role != role {
				s.notFound(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// inbox lists the viewer's threads, newest first, a page at a time.
func (s *Server) inbox(w http.ResponseWriter, r *http.Request) {
	v, err := s.inboxView(r, 0)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, pages.Inbox(v))
}

// staffFilter is one tab of the staff lists.
type staffFilter struct {
	label  string
	filter messaging.Filter
}

// staffFilters are the staff lists' tabs, in order; a filter not here is
// taken as All.
var staffFilters = []staffFilter{{"All", messaging.FilterAll}, {"Mine", messaging.FilterMine}, {"Team unassigned", messaging.FilterNoOwner},
	{"Unread", messaging.FilterUnread}, {"Awaiting reply", messaging.FilterAwaiting}, {"Not done", messaging.FilterNotDone}, {"Done", messaging.FilterDone}}

// providerFilters are a provider's tabs: their inbox and what they filed.
var providerFilters = []staffFilter{{"Current", messaging.FilterAll}, {"Archived", messaging.FilterArchived}}

// inboxView is a page of the viewer's threads (only those with provider
// providerID, when not 0), with the staff's filters.
func (s *Server) inboxView(r *http.Request, providerID int64) (pages.InboxView, error) {
	a := areaOf(r)
	q := r.URL.Query()
	filter := messaging.Filter(q.Get("filter"))
	tabs := providerFilters
	if a.staff {
		tabs = staffFilters
	}
	if !slices.ContainsFunc(tabs, func(f staffFilter) bool { return f.filter == filter }) {
		filter = messaging.FilterAll
	}
	page := messaging.Page{Filter: filter, Before: q.Get("before"), Limit: 25, ProviderID: providerID}
	if a.staff && s.cfg.NotOpenedAfter > 0 {
		page.NotOpenedBefore = time.Now().Add(-s.cfg.NotOpenedAfter)
	}
	form, query, err := s.searchForm(r, &page)
	if err != nil {
		return pages.InboxView{}, err
	}
	res := messaging.SearchResult{}
	if form.Problem == "" {
		if res, err = s.messages.Search(r.Context(), s.viewer(r), page, query); err != nil {
			return pages.InboxView{}, err
		}
	}
	threads, next := res.Threads, res.Next
	v := pages.InboxView{Chrome: s.chrome(r), Title: "Your secure messages", ComposeURL: a.composeURL, Staff: a.staff,
		EmptyTitle: "No secure messages yet",
		EmptyText: i18n.Tf(r.Context(), "When %s sends you a secure message, it appears here and you also get an email whose subject starts with [SECURE]. "+
			"To write to the representative you work with or to Provider Services, choose New message.", s.cfg.Org.Name)}
	listURL := a.inboxURL
	if providerID != 0 {
		listURL = "/staff/providers/" + strconv.FormatInt(providerID, 10)
	}
	if a.staff {
		if !a.readOnly {
			back := url.Values{"back": {r.URL.RequestURI()}}.Encode()
			v.BulkAction, v.BulkReadAction = "/staff/threads/done?"+back, "/staff/threads/read?"+back
		}
		v.Title = "Staff inbox"
		v.EmptyText = "Threads you or your teams have with providers appear here. To send protected health information to a provider, choose New message."
		if filter != messaging.FilterAll {
			v.EmptyTitle, v.EmptyText = "Nothing here", "No conversation matches this filter."
		}
	} else if filter == messaging.FilterArchived {
		v.EmptyTitle, v.EmptyText = "Nothing archived", i18n.Tf(r.Context(), "Conversations you archive appear here. A new message from %s brings one back to your inbox.", s.cfg.Org.Name)
	}
	for _, f := range tabs {
		u := listURL
		vals := searchValues(q)
		if f.filter != "" {
			vals.Set("filter", string(f.filter))
		}
		if len(vals) > 0 {
			u += "?" + vals.Encode()
		}
		v.Filters = append(v.Filters, pages.FilterLink{Label: f.label, URL: u, Current: f.filter == filter})
	}
	switch {
	case q.Get("sent") == "1":
		v.Notice = "Your message was sent securely."
	case q.Get("archived") == "1" && !a.staff:
		v.Notice = i18n.Tf(r.Context(), "The conversation was archived. Find it under Archived; a new message from %s brings it back.", s.cfg.Org.Name)
	case q.Get("done") != "" && a.staff:
		v.Notice = bulkNotice(q.Get("done"), "done")
	case q.Get("read") != "" && a.staff:
		v.Notice = bulkNotice(q.Get("read"), "read")
	case q.Get("bulk") == "none" && a.staff:
		v.BulkProblem = "Tick the conversations first, then choose what to mark them."
	}
	if !a.staff && !a.readOnly && filter == messaging.FilterAll && query.Empty() && !form.Open && page.Before == "" {
		n, err := s.inboxUnread(r, threads, next)
		if err != nil {
			return pages.InboxView{}, err
		}
		showUnread(&v.Chrome, n)
	}
	for _, t := range threads {
		row := pages.ThreadRow{ID: t.ID, URL: a.threadURL + t.ID, Subject: t.Subject, Counterpart: t.Counterpart, Unread: t.Unread,
			Awaiting: a.staff && t.AwaitingReply && t.Status != messaging.StatusDone, Done: a.staff && t.Status == messaging.StatusDone}
		if t.NotOpened {
			row.NotOpened = "Not opened by the provider for over " + layout.Duration(s.cfg.NotOpenedAfter)
		}
		switch {
		case t.Expired:
			row.Subject = "(expired)"
		case t.Withdrawn:
			row.Subject = "(withdrawn)"
		}
		if a.staff {
			row.Detail = t.ProviderEmail
		} else if t.TeamName != "" && t.TeamName != t.Counterpart {
			row.Detail = t.TeamName
		}
		if note := practiceMailNote(r, a, t.ProviderEmail); note != "" {
			row.Detail = strings.TrimPrefix(row.Detail+" · ", " · ") + note
		}
		row.When, row.WhenISO = s.formatTime(r.Context(), t.LastMessageAt)
		v.Threads = append(v.Threads, row)
	}
	if next != "" {
		vals := searchValues(q)
		vals.Set("before", next)
		if filter != "" {
			vals.Set("filter", string(filter))
		}
		v.NextURL = listURL + "?" + vals.Encode()
	}
	form.Action = listURL
	if !query.Empty() || form.Open {
		form.ClearURL = listURL
	}
	form.Filter = string(filter)
	s.describeSearch(r.Context(), &v, &form, query, res)
	v.Search = &form
	return v, nil
}

// inboxUnread counts a provider's inbox conversations with an unopened
// message: from the first page itself when it holds the whole inbox (most
// providers have a few conversations), else with one query.
func (s *Server) inboxUnread(r *http.Request, firstPage []messaging.ThreadSummary, next string) (int, error) {
	if next != "" {
		return s.messages.UnreadThreads(r.Context(), s.viewer(r))
	}
	n := 0
	for _, t := range firstPage {
		if t.Unread > 0 {
			n++
		}
	}
	return n, nil
}

// providerPage is a provider as staff who serve them see them: the account
// (registered or not, last sign-in) and their threads with the viewer's
// teams. Staff who share no thread with the provider get 404.
func (s *Server) providerPage(w http.ResponseWriter, r *http.Request) {
	card, ok := s.providerCard(w, r)
	if !ok {
		return
	}
	v, err := s.inboxView(r, card.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v.Title = firstNonEmpty(card.Name, card.Email)
	cv := &pages.ProviderCardView{Name: card.Name, Email: card.Email, State: "Registered", LastLogin: "Never",
		Practice: card.Practice, Phone: card.Phone, Language: languageName(card.Language)}
	switch {
	case card.Pending:
		cv.State = "Invited, not registered yet"
		cv.ResendAction = "/staff/providers/" + strconv.FormatInt(card.ID, 10) + "/registration"
	case card.Disabled:
		cv.State = "Disabled by an administrator"
	}
	if !card.LastLoginAt.IsZero() {
		cv.LastLogin = s.day(r.Context(), card.LastLoginAt)
	}
	if s.practices != nil {
		g, err := s.practices.PracticeOf(r.Context(), card.ID)
		switch {
		case err == nil:
			cv.Group = &pages.ProviderPractice{Name: g.Name, NPI: g.NPI, County: g.County, LineOfBusiness: g.LineOfBusiness,
				Address: g.MailboxEmail, WriteURL: "/staff/compose?to=" + url.QueryEscape(g.MailboxEmail), Mailbox: g.MailboxID == card.ID}
		case !errors.Is(err, practices.ErrNotFound):
			s.serverError(w, r, err)
			return
		}
	}
	v.Provider = cv
	if v.Search == nil || v.Search.ClearURL == "" {
		v.EmptyTitle, v.EmptyText = "Nothing here", "No conversation with this provider matches this filter."
	}
	if r.URL.Query().Get("resent") == "1" {
		v.Notice = "A fresh registration link is on its way to " + card.Email + "."
	}
	s.render(w, r, http.StatusOK, pages.Inbox(v))
}

// providerCard loads the provider named by {id} for staff who serve them;
// it answers 404 itself otherwise.
func (s *Server) providerCard(w http.ResponseWriter, r *http.Request) (messaging.ProviderCard, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return messaging.ProviderCard{}, false
	}
	card, err := s.messages.Provider(r.Context(), s.viewer(r), id)
	return card, !s.failed(w, r, err)
}

// resendRegistration emails a pending provider a fresh registration link
// (they lost the first email), audited.
func (s *Server) resendRegistration(w http.ResponseWriter, r *http.Request) {
	card, ok := s.providerCard(w, r)
	if !ok {
		return
	}
	u, _ := currentUser(r.Context())
	err := s.accounts.ResendRegistrationFor(r.Context(), u, card.ID, ClientIP(r.Context()).String())
	if errors.Is(err, accounts.ErrActionNotApplicable) {
		s.renderMessage(w, r, http.StatusConflict, "No link to send", "This provider has registered already (or the account is off): there is no registration link to send.")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/staff/providers/"+strconv.FormatInt(card.ID, 10)+"?resent=1", http.StatusSeeOther)
}

func (s *Server) thread(w http.ResponseWriter, r *http.Request) {
	var form threadForm
	if d, ok := s.restoreDraft(w, r); ok {
		form.body, form.notice, form.kept = d.Fields["body"], draftNotice(d), d.Files
	}
	s.showThreadWith(w, r, chi.URLParam(r, "id"), http.StatusOK, nil, form)
}

// practiceMailNote says whose a thread is when a provider reads it as a
// member of the practice it was addressed to; "" for their own threads,
// and in the staff and emergency areas.
func practiceMailNote(r *http.Request, a area, providerEmail string) string {
	if u, _ := currentUser(r.Context()); a.staff || strings.EqualFold(providerEmail, u.Email) {
		return ""
	}
	return i18n.Tf(r.Context(), "Practice mail, to %s", providerEmail)
}

// threadForm is what a thread page shows again in its forms: a refused
// reply's body, a refused note, or a message kept while its writer signed
// in again (with the notice that says so).
type threadForm struct {
	body, note, notice string
	kept               []messaging.KeptFile
}

// showThreadWith renders thread id, with its forms holding what form
// holds (a refused reply or note, or a message kept while its writer
// signed in again) and their problems fe.
func (s *Server) showThreadWith(w http.ResponseWriter, r *http.Request, id string, status int, fe messaging.FieldErrors, form threadForm) {
	a := areaOf(r)
	th, err := s.messages.Thread(r.Context(), s.viewer(r), id)
	if s.failed(w, r, err) {
		return
	}
	chrome := s.chromeWithUploads(r)
	chrome.ScriptURLs = append(chrome.ScriptURLs, s.assets.URL("js/print.js"))
	v := pages.ThreadView{Chrome: chrome, Subject: th.Subject, Withdrawn: th.Withdrawn, ReadOnly: a.readOnly, ReplyAction: a.threadURL + id + "/reply",
		Limits: s.uploadLimits(r.Context()), Reply: pages.Field{Name: "body", Label: "Your reply", Value: form.body, Error: fe["body"]}, Kept: keptView(form.kept)}
	if th.Withdrawn {
		v.Subject = "Withdrawn conversation"
	}
	if !th.ExpiredAt.IsZero() {
		day, _ := s.formatTime(r.Context(), th.ExpiredAt)
		v.Subject = "Expired conversation"
		v.ExpiredNote = i18n.Tf(r.Context(), "This conversation expired on %s and its content was deleted under the retention policy. Ask your representative to resend anything you still need.", day)
		if !a.readOnly {
			v.ComposeURL = a.composeURL
		}
	}
	switch {
	case a.staff:
		v.With = "With " + th.ProviderName + " (" + th.ProviderEmail + ")"
		if !a.readOnly {
			v.WithURL = "/staff/providers/" + strconv.FormatInt(th.ProviderID, 10)
		}
	case th.StaffName != "":
		v.With = i18n.Tf(r.Context(), "With %s", th.StaffName)
	default:
		v.With = i18n.Tf(r.Context(), "With %s", th.TeamName)
	}
	if note := practiceMailNote(r, a, th.ProviderEmail); note != "" {
		v.With += " · " + note
	}
	switch {
	case r.URL.Query().Get("sent") == "1":
		v.Notice = "Your message was sent securely."
	case r.URL.Query().Get("status") == "changed" && a.staff:
		v.Notice = "Status changed to “" + statusWords[th.Status] + "”."
	case r.URL.Query().Get("owner") == "changed" && a.staff:
		v.Notice = "The owner is now recorded. The audit log keeps who handed it to whom."
	case r.URL.Query().Get("reminded") != "" && a.staff:
		v.Notice = reminderWords[r.URL.Query().Get("reminded")]
	case form.notice != "":
		v.Notice = form.notice
	case r.URL.Query().Get("archived") == "0" && !a.staff:
		v.Notice = "The conversation is back in your inbox."
	}
	v.Problems = pages.Problems(v.Reply)
	for _, m := range th.Messages {
		own, quoted := pages.SplitQuoted(m.Body)
		mv := pages.MessageView{ID: m.ID, Sender: m.SenderName, FromViewer: m.FromViewer, Withdrawn: m.Withdrawn,
			Body: pages.Linkify(own), Quoted: pages.Linkify(quoted)}
		mv.When, mv.WhenISO = s.formatTime(r.Context(), m.CreatedAt)
		if !m.ExpiredAt.IsZero() {
			day, _ := s.formatTime(r.Context(), m.ExpiredAt)
			mv.ExpiredNote = i18n.Tf(r.Context(), "This message expired on %s and was deleted. Ask your representative to send it again if you still need it.", day)
		}
		for _, at := range m.Attachments {
			mv.Attachments = append(mv.Attachments, pages.AttachmentLink{URL: "/attachments/" + at.ID, Name: at.Name, Size: humanBytes(at.Size)})
		}
		mv.Deliveries, mv.SentByEmail = s.deliveryNotes(m.Deliveries)
		if m.FromViewer && !m.Withdrawn {
			if m.ReadAt.IsZero() {
				mv.ReadNote = "Not opened yet"
			} else {
				when, _ := s.formatTime(r.Context(), m.ReadAt)
				mv.ReadNote = "Opened " + when
			}
			if a.staff && !a.readOnly {
				mv.RecallURL = "/staff/messages/" + m.ID + "/recall"
				if m.ReadAt.IsZero() && !mv.SentByEmail && th.ExpiredAt.IsZero() {
					mv.RemindAction = "/staff/messages/" + m.ID + "/remind"
				}
			}
		}
		v.Messages = append(v.Messages, mv)
	}
	if a.staff && !a.readOnly && th.ExpiredAt.IsZero() {
		s.ownerForms(r, &v, th, fe)
		v.Status, v.StatusAction = statusWords[th.Status], "/staff/threads/"+id+"/status"
		v.StatusField = pages.Field{Name: "status", Label: "Change to", Error: fe["status"]}
		for _, st := range []messaging.Status{messaging.StatusOpen, messaging.StatusWaiting, messaging.StatusDone} {
			v.StatusOptions = append(v.StatusOptions, pages.Option{Value: string(st), Label: statusWords[st], Selected: st == th.Status})
		}
		v.Problems = append(v.Problems, pages.Problems(v.StatusField)...)
	}
	if !a.staff && !a.readOnly {
		v.ArchiveAction, v.Archived = "/threads/"+id+"/archive", th.ProviderArchived
	}
	if a.staff && !a.readOnly && !v.Withdrawn && th.ExpiredAt.IsZero() {
		if err := s.replyStart(r, &v, a.threadURL+id); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	if a.staff && !a.readOnly {
		v.NoteAction = "/staff/threads/" + id + "/notes"
		v.Note = pages.Field{Name: "note", Label: "New internal note", Value: form.note, Error: fe["note"]}
		for _, n := range th.Notes {
			nv := pages.NoteView{Author: n.AuthorName, Body: pages.Linkify(n.Body)}
			nv.When, nv.WhenISO = s.formatTime(r.Context(), n.CreatedAt)
			v.Notes = append(v.Notes, nv)
		}
		v.Problems = append(v.Problems, pages.Problems(v.Note)...)
	}
	s.render(w, r, status, pages.Thread(v))
}

// ownerForms say who owns a staff thread and offer to take it, leave it to
// the team, or hand it over.
func (s *Server) ownerForms(r *http.Request, v *pages.ThreadView, th messaging.Thread, fe messaging.FieldErrors) {
	u, _ := currentUser(r.Context())
	v.AssignAction = "/staff/threads/" + th.ID + "/assign"
	v.Assignee = pages.Field{Name: "assignee", Label: "Colleague's email address", Type: "email", Error: fe["assignee"], Autocomplete: "off",
		Hint: "A representative in this conversation's team. They see it under “Mine”."}
	switch {
	case th.OwnerID == u.ID:
		v.Owner = "You"
	case th.OwnerID != 0:
		v.Owner = th.StaffName
	default:
		v.Owner = "Nobody yet (" + th.TeamName + " team)"
	}
	switch {
	case th.OwnerID == 0 || !th.HasTeam:
	case th.OwnerDisabled:
		v.Owner += " (can no longer sign in: the team is told of the provider's new messages)"
	case !th.OwnerAwayUntil.IsZero():
		v.Owner += " (out of office until the end of " + s.localDay(th.OwnerAwayUntil.Add(-time.Nanosecond)) + ": the team is told of the provider's new messages)"
	}
	if th.OwnerID != u.ID {
		v.TakeAs = u.Email
	}
	v.CanRelease = th.OwnerID != 0 && th.HasTeam
	for _, h := range th.History {
		line := pages.HistoryLine{Text: historyWords(h)}
		line.When, line.WhenISO = s.formatTime(r.Context(), h.At)
		v.History = append(v.History, line)
	}
	v.Problems = append(v.Problems, pages.Problems(v.Assignee)...)
}

// historyWords say what a change in a thread's history was.
func historyWords(h messaging.ThreadEvent) string {
	switch {
	case !h.Assigned:
		return h.Actor + " set the status to “" + statusWords[h.Status] + "”"
	case h.Took:
		return h.Actor + " took it"
	case h.ToOwner == "":
		return h.Actor + " left it to the team"
	default:
		return h.Actor + " handed it to " + h.ToOwner
	}
}

// assign hands a staff thread to a colleague, to the viewer, or to its team.
func (s *Server) assign(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "assignee")
	if !ok {
		return
	}
	id := chi.URLParam(r, "id")
	err := f.textErr()
	if err == nil {
		err = s.messages.Assign(r.Context(), s.viewer(r), id, f.Get("assignee"))
	}
	if fe, bad := fieldErrors(err); bad {
		s.showThreadWith(w, r, id, http.StatusUnprocessableEntity, fe, threadForm{})
		return
	}
	if s.failed(w, r, err) {
		return
	}
	http.Redirect(w, r, "/staff/threads/"+id+"?owner=changed", http.StatusSeeOther)
}

// markDone marks the ticked conversations of a staff list done and goes
// back to that list.
func (s *Server) markDone(w http.ResponseWriter, r *http.Request) {
	s.bulk(w, r, "done", s.messages.MarkDone)
}

// markRead marks the ticked conversations of a staff list read.
func (s *Server) markRead(w http.ResponseWriter, r *http.Request) {
	s.bulk(w, r, "read", s.messages.MarkRead)
}

// bulk applies do to the ticked threads (field thread) and goes back to
// the list (query back) with key=how many changed, or bulk=none.
func (s *Server) bulk(w http.ResponseWriter, r *http.Request, key string, do func(context.Context, messaging.Viewer, []string) (int, error)) {
	f, ok := s.postForm(w, r)
	if !ok {
		return
	}
	back := accounts.SafeNext(r.URL.Query().Get("back"))
	if !strings.HasPrefix(back, "/staff") {
		back = "/staff"
	}
	n, err := do(r.Context(), s.viewer(r), f.Values["thread"])
	if _, bad := fieldErrors(err); bad {
		http.Redirect(w, r, withQuery(back, "bulk", "none"), http.StatusSeeOther)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, withQuery(back, key, strconv.Itoa(n)), http.StatusSeeOther)
}

// reminderWords say what became of "Email the provider a reminder".
var reminderWords = map[string]string{
	"1":      "A reminder with a fresh link is on its way to the provider.",
	"opened": "No reminder sent: the provider has opened the message.",
	"email":  "No reminder sent: the message was delivered to the provider's own mailbox.",
	"soon":   "No reminder sent: the provider was reminded of this message less than a day ago.",
}

// remind emails the provider a fresh notification of a message of the
// representative's that waits unopened, and goes back to the thread.
func (s *Server) remind(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.postForm(w, r); !ok {
		return
	}
	threadID, err := s.messages.Remind(r.Context(), s.viewer(r), chi.URLParam(r, "id"))
	outcome := "1"
	switch {
	case errors.Is(err, messaging.ErrAlreadyOpened):
		outcome = "opened"
	case errors.Is(err, messaging.ErrSentByEmail):
		outcome = "email"
	case errors.Is(err, messaging.ErrRemindedRecently):
		outcome = "soon"
	case s.failed(w, r, err):
		return
	}
	http.Redirect(w, r, "/staff/threads/"+threadID+"?reminded="+outcome, http.StatusSeeOther)
}

// archive files a provider's thread under "Archived" (archive=1) or back
// in the inbox (archive=0).
func (s *Server) archive(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r)
	if !ok {
		return
	}
	id, archived := chi.URLParam(r, "id"), f.Get("archive") != "0"
	if s.failed(w, r, s.messages.SetArchived(r.Context(), s.viewer(r), id, archived)) {
		return
	}
	if archived {
		http.Redirect(w, r, "/inbox?archived=1", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/threads/"+id+"?archived=0", http.StatusSeeOther)
}

// bulkNotice says how many ticked conversations were marked (count, from
// the query) done or read.
func bulkNotice(count, mark string) string {
	switch n, _ := strconv.Atoi(count); {
	case n == 1:
		return "1 conversation marked " + mark + "."
	case n > 1:
		return strconv.Itoa(n) + " conversations marked " + mark + "."
	default:
		return "No conversation changed: those ticked were " + mark + " already."
	}
}

// withQuery is path with key=value added to its query.
func withQuery(path, key, value string) string {
	u, err := url.Parse(path)
	if err != nil {
		return path
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// statusWords name a thread's status on the staff pages.
var statusWords = map[messaging.Status]string{
	messaging.StatusOpen:    "Open",
	messaging.StatusWaiting: "Waiting on the provider",
	messaging.StatusDone:    "Done",
}

// setStatus marks a staff thread open, waiting or done.
func (s *Server) setStatus(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "status")
	if !ok {
		return
	}
	id := chi.URLParam(r, "id")
	err := f.textErr()
	if err == nil {
		err = s.messages.SetStatus(r.Context(), s.viewer(r), id, f.Get("status"))
	}
	if fe, bad := fieldErrors(err); bad {
		s.showThreadWith(w, r, id, http.StatusUnprocessableEntity, fe, threadForm{})
		return
	}
	if s.failed(w, r, err) {
		return
	}
	http.Redirect(w, r, "/staff/threads/"+id+"?status=changed", http.StatusSeeOther)
}

// addNote leaves an internal note on a staff thread.
func (s *Server) addNote(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "note")
	if !ok {
		return
	}
	id := chi.URLParam(r, "id")
	note := f.Get("note")
	err := f.textErr()
	if err == nil {
		err = s.messages.AddNote(r.Context(), s.viewer(r), id, note)
	}
	if fe, bad := fieldErrors(err); bad {
		s.showThreadWith(w, r, id, http.StatusUnprocessableEntity, fe, threadForm{note: note})
		return
	}
	if s.failed(w, r, err) {
		return
	}
	http.Redirect(w, r, "/staff/threads/"+id+"#notes", http.StatusSeeOther)
}

// reply adds the viewer's message, with its attachments, to a thread.
func (s *Server) reply(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	form, err := s.readUploadForm(r, "body", "kept_files")
	if err != nil {
		s.uploadFailed(w, r, err)
		return
	}
	defer form.Close()
	files, err := s.keptFor(r, form)
	if err != nil {
		s.uploadFailed(w, r, err)
		return
	}
	defer files.Close()
	body := form.value("body")
	err = form.textErr()
	if err == nil {
		err = s.messages.Reply(r.Context(), s.viewer(r), id, body, files)
	}
	if fe, ok := fieldErrors(err, "body"); ok {
		s.showThreadWith(w, r, id, http.StatusUnprocessableEntity, fe, threadForm{body: body, kept: files.kept})
		return
	}
	if err != nil {
		s.uploadFailed(w, r, err)
		return
	}
	files.release()
	http.Redirect(w, r, areaOf(r).threadURL+id+"?sent=1", http.StatusSeeOther)
}

// uploadFailed answers the failures of a message submission: too large or
// too many files (413), a refused file type (422), a broken form (400), a
// thread that is not the sender's (404) or withdrawn (410). Nothing was
// stored: the store's transaction rolled back.
func (s *Server) uploadFailed(w http.ResponseWriter, r *http.Request, err error) {
	p, refused := find(sendProblems, err)
	switch {
	case errors.Is(err, messaging.ErrNotFound):
		s.notFound(w, r)
	case refused:
		s.log.InfoContext(r.Context(), "message refused", "request_id", RequestID(r.Context()), "reason", err.Error())
		s.renderMessage(w, r, p.status, p.title, fill(p.text, "{limits}", s.uploadLimits(r.Context())))
	case errors.Is(err, errBadForm):
		s.log.InfoContext(r.Context(), "malformed upload", "request_id", RequestID(r.Context()), "err", err)
		s.renderError(w, r, http.StatusBadRequest)
	case errors.Is(err, errFieldTooLarge):
		s.log.InfoContext(r.Context(), "message refused", "request_id", RequestID(r.Context()), "reason", err.Error())
		s.renderError(w, r, http.StatusRequestEntityTooLarge)
	default:
		s.serverError(w, r, err)
	}
}

func (s *Server) uploadLimits(ctx context.Context) string {
	u := s.cfg.Uploads
	return i18n.Tf(ctx, "Up to %d files, each at most %s, %s in all. Programs and scripts cannot be sent.",
		u.MaxFiles, humanBytes(u.MaxFileBytes), humanBytes(u.MaxMessageBytes))
}

// downloadAttachment streams an attachment from the envelope store. It is
// always a download (never rendered), with a type that cannot be sniffed
// into HTML, a sandbox CSP in case a browser renders it anyway, and no-store.
func (s *Server) downloadAttachment(w http.ResponseWriter, r *http.Request) {
	a, body, err := s.messages.OpenAttachment(r.Context(), s.viewer(r), chi.URLParam(r, "id"))
	p, refused := find(downloadProblems, err)
	switch {
	case errors.Is(err, messaging.ErrNotFound):
		s.notFound(w, r)
		return
	case refused:
		s.renderMessage(w, r, p.status, p.title, p.text)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	defer body.Close()
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("Content-Disposition", contentDisposition(a.Name))
	h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if _, err := io.Copy(w, body); err != nil {
		// Headers are gone: abort the connection so the browser sees a failed
		// download, not a truncated file that looks complete.
		s.log.ErrorContext(r.Context(), "attachment stream failed", "request_id", RequestID(r.Context()), "attachment_id", a.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// contentDisposition gives an ASCII fallback name and the exact UTF-8 name as
// filename* (RFC 6266 §4.3), which every current browser prefers.
func contentDisposition(name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + url.PathEscape(name)
}

func (s *Server) renderMessage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	s.render(w, r, status, pages.Error(pages.ErrorView{Chrome: s.chrome(r), Status: status, Title: title, Message: message, RequestID: RequestID(r.Context())}))
}
