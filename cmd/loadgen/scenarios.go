package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http"

	"github.com/healthnet/secureportal/internal/messaging"
)

// role is whose session a scenario needs.
type role int

const (
	anyone role = iota // a fresh browser each time
	provider
	staff
)

// scenario is one kind of request a virtual user makes.
type scenario struct {
	name string
	role role
	do   func(ctx context.Context, u *vuser) (outcome, error)
}

var scenarios = []scenario{
	{"signin", anyone, func(ctx context.Context, u *vuser) (outcome, error) {
		return newSession(u.base, u.transport).signIn(ctx, providerEmail(u.rng.IntN(u.providers)))
	}},
	{"inbox", provider, func(ctx context.Context, u *vuser) (outcome, error) {
		o, _, err := u.provider.get(ctx, "/inbox")
		return o, err
	}},
	{"thread", provider, func(ctx context.Context, u *vuser) (outcome, error) {
		o, _, err := u.provider.get(ctx, "/threads/"+pick(u.rng, u.provider.threads))
		return o, err
	}},
	{"reply", provider, reply},
	{"staff", staff, func(ctx context.Context, u *vuser) (outcome, error) {
		o, _, err := u.staff.get(ctx, staffInboxPath(staffFilters[u.rng.IntN(len(staffFilters))]))
		return o, err
	}},
}

// staffFilters are the staff inbox's three views.
var staffFilters = []messaging.Filter{messaging.FilterAll, messaging.FilterUnread, messaging.FilterAwaiting}

func staffInboxPath(f messaging.Filter) string {
	if f == messaging.FilterAll {
		return "/staff"
	}
	return "/staff?filter=" + string(f)
}

func scenarioNamed(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

// replyFile is the 100 KiB attachment of every reply: it starts like a
// PDF, so the portal's program sniffer has nothing to refuse.
var replyFile = func() []byte {
	return fileContent(rand.New(rand.NewPCG(12, 12)), 100<<10)
}()

// reply posts the reply form (body, attachments) of a thread, as the
// thread page's form does; the portal answers 303 to the thread.
func reply(ctx context.Context, u *vuser) (outcome, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("body", "Thank you, the requested records are attached.\n\n"+body(u.rng))
	fw, err := mw.CreateFormFile("attachments", fmt.Sprintf("records-%d.pdf", u.rng.IntN(100000)))
	if err != nil {
		return outcome{}, err
	}
	fw.Write(replyFile)
	mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.base+"/threads/"+pick(u.rng, u.provider.threads)+"/reply", &buf)
	if err != nil {
		return outcome{}, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	o, _, err := u.provider.do(req, http.StatusSeeOther)
	return o, err
}
