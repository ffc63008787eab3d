package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A client that leaves mid-request is not our failure: logged at info level
// with status 499 (logs and metrics), no error line, no page sent; a real
// failure still gets the 500 page and an error line.
func TestClientThatLeftIsLoggedAs499NotAnError(t *testing.T) {
	e := newTestEnv(t, nil)
	h := e.srv.requestID(e.srv.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.srv.serverError(w, r, fmt.Errorf("postgres: load thread: %w", r.Context().Err()))
	})))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/inbox", nil).WithContext(ctx))
	if rec.Code != statusClientClosed || rec.Body.Len() != 0 {
		t.Errorf("left client: status %d, %d bytes sent; want 499 and nothing", rec.Code, rec.Body.Len())
	}
	logs := e.logs.String()
	if strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "client closed the request") || !strings.Contains(logs, `"status":499`) {
		t.Errorf("log for a client that left:\n%s", logs)
	}

	failing := e.srv.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.srv.serverError(w, r, fmt.Errorf("postgres: load thread: %w", context.Canceled)) // the client is still here
	}))
	rec = httptest.NewRecorder()
	failing.ServeHTTP(rec, httptest.NewRequest("GET", "/inbox", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a cancellation of our own making must stay a 500 with an error line: %d", rec.Code)
	}
}

// sessionStore is a session store whose finding and saving fail with the
// errors given.
type sessionStore struct{ find, commit error }

func (s sessionStore) Find(string) ([]byte, bool, error)      { return nil, false, s.find }
func (s sessionStore) Commit(string, []byte, time.Time) error { return s.commit }
func (s sessionStore) Delete(string) error                    { return nil }

// storeDown is an error a store marks as the database out of reach.
type storeDown struct{}

func (storeDown) Error() string     { return "postgres: the database cannot be reached" }
func (storeDown) Unavailable() bool { return true }

// A failing session store gets the portal's own pages, never scs's bare
// "Internal Server Error": the 503 "busy" page with Retry-After when the
// database is out of reach (a refused connection, a timeout, or an error its
// store marks Unavailable), else the 500 page with the reference. When the
// save fails as the handler starts its answer, the failure page is the
// whole answer.
func TestSessionStoreFailuresGetThePortalsPages(t *testing.T) {
	e := newTestEnv(t, nil)
	refused := fmt.Errorf("postgres: find session: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	cases := []struct {
		name   string
		store  sessionStore
		status int
		says   string
	}{
		{"connection refused", sessionStore{find: refused}, http.StatusServiceUnavailable, "The portal is busy"},
		{"marked unavailable by the store", sessionStore{find: fmt.Errorf("web: %w", storeDown{})}, http.StatusServiceUnavailable, "The portal is busy"},
		{"no connection in time", sessionStore{find: fmt.Errorf("postgres: acquire: %w", context.DeadlineExceeded)}, http.StatusServiceUnavailable, "The portal is busy"},
		{"a fault of ours", sessionStore{find: errors.New("postgres: scan session: wrong type")}, http.StatusInternalServerError, "Something went wrong on our side"},
		{"saving as the answer starts", sessionStore{commit: refused}, http.StatusServiceUnavailable, "The portal is busy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := New(e.srv.cfg, e.srv.log, nil, Services{Sessions: tc.store})
			h := srv.requestID(srv.loadSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				srv.sessions.Put(r.Context(), sessUserID, int64(1))
				w.Write([]byte("the handler's page"))
			})))
			req := httptest.NewRequest(http.MethodGet, "/inbox", nil)
			if tc.store.find != nil {
				req.AddCookie(&http.Cookie{Name: srv.sessions.Cookie.Name, Value: "a-session-token"})
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			mustContain(t, "page", body, `data-testid="error-page"`, tc.says, rec.Header().Get("X-Request-Id"))
			if strings.Contains(body, "the handler's page") || strings.Contains(body, "Internal Server Error") {
				t.Errorf("more than the portal's page: %q", body)
			}
			if retry := rec.Header().Get("Retry-After"); (tc.status == http.StatusServiceUnavailable) != (retry == "5") {
				t.Errorf("Retry-After %q with %d", retry, rec.Code)
			}
		})
	}
}
