package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
