package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// session is one signed-in browser: its own cookie jar over the shared
// transport, redirects not followed (a 303 is the answer being measured).
type session struct {
	base    string
	client  *http.Client
	threads []string // thread ids its inbox showed, for the thread pages
}

func newSession(base string, transport http.RoundTripper) *session {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &session{base: base, client: &http.Client{Transport: transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// outcome is what one request gave: its status, and the start of the body
// when the status was not the one expected.
type outcome struct {
	status  int
	snippet string
}

func (o outcome) failed() bool { return o.snippet != "" }

// do sends req and reads the whole answer; want is the status a success has.
func (s *session) do(req *http.Request, want int) (outcome, []byte, error) {
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return outcome{}, nil, err
	}
	o := outcome{status: resp.StatusCode}
	if resp.StatusCode != want {
		o.snippet = fmt.Sprintf("%s %s: %d (want %d): %.200q", req.Method, req.URL.Path, resp.StatusCode, want, body)
	}
	return o, body, nil
}

func (s *session) get(ctx context.Context, path string) (outcome, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return outcome{}, nil, err
	}
	return s.do(req, http.StatusOK)
}

// signIn posts the login form as a browser does; the portal answers 303.
func (s *session) signIn(ctx context.Context, email string) (outcome, error) {
	form := url.Values{"email": {email}, "password": {Password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return outcome{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	o, _, err := s.do(req, http.StatusSeeOther)
	return o, err
}

var threadLink = regexp.MustCompile(`href="/threads/([0-9a-f-]{36})"`)

// signInProvider signs in and remembers the threads the inbox lists.
func (s *session) signInProvider(ctx context.Context, email string) error {
	if err := s.mustSignIn(ctx, email); err != nil {
		return err
	}
	o, body, err := s.get(ctx, "/inbox")
	if err == nil && o.failed() {
		err = fmt.Errorf("%s", o.snippet)
	}
	if err != nil {
		return fmt.Errorf("inbox of %s: %w", email, err)
	}
	for _, m := range threadLink.FindAllSubmatch(body, -1) {
		s.threads = append(s.threads, string(m[1]))
	}
	if len(s.threads) == 0 {
		return fmt.Errorf("inbox of %s lists no thread", email)
	}
	return nil
}

func (s *session) mustSignIn(ctx context.Context, email string) error {
	o, err := s.signIn(ctx, email)
	if err == nil && o.failed() {
		err = fmt.Errorf("%s", o.snippet)
	}
	if err != nil {
		return fmt.Errorf("sign in as %s: %w (is the rate limit raised? see docs/PERFORMANCE.md)", email, err)
	}
	return nil
}
