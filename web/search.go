package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/healthnet/secureportal/internal/i18n"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/pages"
)

// searchParams are the query parameters of the inbox's search (DESIGN.md
// §8): kept by the filter tabs and the next-page link.
var searchParams = []string{"q", "in", "team", "from", "to", "attachment", "unopened"}

// searchValues are the search parameters of q that are set.
func searchValues(q url.Values) url.Values {
	out := url.Values{}
	for _, k := range searchParams {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

const dateLayout = "2006-01-02"

// searchForm reads the search parameters into the form shown back and
// into page and the query. What cannot be used is the form's Problem
// (then nothing is searched); err is for a failure of the store.
func (s *Server) searchForm(r *http.Request, page *messaging.Page) (pages.SearchForm, messaging.Query, error) {
	a := areaOf(r)
	q := r.URL.Query()
	f := pages.SearchForm{Query: q.Get("q"), TitlesOnly: q.Get("in") == "titles", From: q.Get("from"), To: q.Get("to"), Staff: a.staff,
		Hint: "Words from a subject, a message or a file name, or a name. Each word matches from its start: john finds Johnson."}
	query, err := messaging.ParseQuery(f.Query, f.TitlesOnly)
	if errors.Is(err, messaging.ErrQueryTooLong) {
		f.Problem = "Search for at most " + strconv.Itoa(messaging.MaxQueryTerms) + " words and " + strconv.Itoa(messaging.MaxQueryLen) + " characters."
	}
	since, sinceOK := parseDay(f.From, s.cfg.Location)
	until, untilOK := parseDay(f.To, s.cfg.Location)
	switch {
	case !sinceOK || !untilOK:
		f.Problem = "Enter dates as year-month-day, for example 2026-11-30."
	case !since.IsZero() && !until.IsZero() && until.Before(since):
		f.Problem = "The first date is after the second; swap them."
	}
	page.Since = since
	if !until.IsZero() {
		page.Until = until.AddDate(0, 0, 1) // the whole last day
	}
	if a.staff {
		f.Hint = "Words from a subject, a message or a file name, or a provider's name or email address. Each word matches from its start: john finds Johnson."
		f.Attachment = q.Get("attachment") == "1"
		page.HasAttachment = f.Attachment
		if !page.NotOpenedBefore.IsZero() {
			f.UnopenedLabel = "not opened by the provider for over " + layout.Duration(s.cfg.NotOpenedAfter)
			f.Unopened = q.Get("unopened") == "1"
			page.NotOpenedOnly = f.Unopened
		}
		if err := s.teamChoice(r, q.Get("team"), &f, page); err != nil {
			return f, query, err
		}
	}
	f.Open = f.TitlesOnly || f.From != "" || f.To != "" || f.Attachment || f.Unopened || page.TeamID != 0
	return f, query, nil
}

// teamChoice offers the representative's teams (when more than one) and
// keeps the chosen one in page.
func (s *Server) teamChoice(r *http.Request, chosen string, f *pages.SearchForm, page *messaging.Page) error {
	teams, err := s.messages.TeamsOf(r.Context(), s.viewer(r).UserID)
	if err != nil || len(teams) < 2 && chosen == "" {
		return err
	}
	f.Teams = []pages.Option{{Value: "", Label: "All my teams"}}
	known := false
	for _, t := range teams {
		id := strconv.FormatInt(t.ID, 10)
		f.Teams = append(f.Teams, pages.Option{Value: id, Label: t.Name, Selected: id == chosen})
		if id == chosen {
			known, page.TeamID = true, t.ID
		}
	}
	if chosen != "" && !known {
		f.Problem = "Choose one of your teams."
	}
	return nil
}

// parseDay reads a date input's value (YYYY-MM-DD) as the start of that
// day in loc; "" is the zero time, and ok is false for anything else.
func parseDay(s string, loc *time.Location) (t time.Time, ok bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.ParseInLocation(dateLayout, s, loc)
	return t, err == nil && t.Year() >= 1970 && t.Year() <= 9999
}

// describeSearch words the result of a search for the page: how many
// matched, how far back it looked, what to do when nothing matched.
func (s *Server) describeSearch(ctx context.Context, v *pages.InboxView, f *pages.SearchForm, query messaging.Query, res messaging.SearchResult) {
	if f.Problem != "" {
		v.EmptyTitle, v.EmptyText = "Nothing searched yet", "Correct the search above and try again."
		return
	}
	if query.Empty() {
		if f.Open {
			v.EmptyTitle, v.EmptyText = "Nothing here", "No conversation matches these filters."
		}
		return
	}
	v.EmptyTitle = "No conversation matches your search"
	v.EmptyText = "Check the spelling, or use fewer or shorter words."
	if query.TitlesOnly {
		v.EmptyText = i18n.T(ctx, v.EmptyText) + " " + i18n.T(ctx, "This search looked at subjects and names only; choose Everything to look inside messages and file names too.")
	}
	switch n := len(res.Threads); {
	case res.Partial:
		f.Summary = i18n.Tf(ctx, "Searched the conversations active since %s; older ones are not searched yet.", s.day(ctx, res.SearchedBackTo))
		v.EmptyTitle = "No match yet"
		v.EmptyText = i18n.Tf(ctx, "No conversation active since %s matches. Choose “Older conversations” to search further back.", s.day(ctx, res.SearchedBackTo))
	case n == 1 && res.Next == "":
		f.Summary = i18n.T(ctx, "1 conversation matches.")
	case res.Next == "" && n > 0:
		f.Summary = i18n.Tf(ctx, "%d conversations match.", n)
	case n > 0:
		f.Summary = i18n.Tf(ctx, "The newest %d conversations that match; more are on the next page.", n)
	}
}
