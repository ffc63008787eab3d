package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
)

// uploadBodyLimit is the body limit of the upload routes: the message's
// files, and room for its text fields and the multipart framing.
func (s *Server) uploadBodyLimit() int64 {
	return s.cfg.Uploads.MaxMessageBytes + 2<<20
}

// boundRequests bounds the phases of a request after its headers (the
// server's ReadHeaderTimeout bounds those):
//
//   - a body announced larger than any route accepts is refused with 413
//     before a byte of it is read;
//   - the body must arrive within Limits.BodyTimeout of the first read, and
//     each byte received moves that deadline 1/MinRate later, never more
//     than BodyTimeout ahead: a small form has BodyTimeout in all, an
//     upload as long as it keeps MinRate on average, and a body trickled a
//     byte at a time is cut;
//   - the handler and its response have WriteTimeout from the moment the
//     body last made progress (the request start, without one), and longer
//     only while the client takes the response at MinRate, by the same
//     rule.
//
// It sits outside every other handler so that it holds the connection's
// own ResponseWriter, whose deadlines http.ResponseController can set.
func (s *Server) boundRequests(next http.Handler) http.Handler {
	lim := s.cfg.Limits
	largest := max(s.cfg.MaxFormBytes, s.uploadBodyLimit())
	tooLarge := chi.Chain(s.outerMiddleware()...).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // do not wait for the body to drain
		s.renderError(w, r, http.StatusRequestEntityTooLarge)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > largest {
			tooLarge.ServeHTTP(w, r)
			return
		}
		if lim.MinRate <= 0 || lim.BodyTimeout <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		t := &transfer{rc: http.NewResponseController(w), rate: lim.MinRate, window: lim.BodyTimeout, writeTimeout: lim.WriteTimeout}
		t.start(time.Now(), r.Body != nil && r.Body != http.NoBody)
		defer t.finish()
		if t.hasBody {
			r.Body = &boundedBody{ReadCloser: r.Body, t: t}
		}
		// net/http cancels the request's context when a read fails, our
		// deadline included. The handler keeps a live context after a cut
		// (it still answers, and its error page renders), and loses it as
		// before when the client goes.
		conn := r.Context()
		ctx, cancel := context.WithCancelCause(context.WithoutCancel(conn))
		stop := context.AfterFunc(conn, func() {
			if !t.cut(time.Now()) {
				cancel(context.Cause(conn))
			}
		})
		defer func() {
			stop()
			cancel(nil)
		}()
		next.ServeHTTP(&boundedWriter{ResponseWriter: w, t: t}, r.WithContext(ctx))
	})
}

// transfer keeps one request's read and write deadlines. Its methods may be
// called from more than one goroutine (a handler may read its body in
// another), but never after the handler returned: the connection is then
// the server's again.
type transfer struct {
	rc           *http.ResponseController
	rate         int64         // bytes per second
	window       time.Duration // the most credit a connection can hold
	writeTimeout time.Duration

	mu       sync.Mutex
	done     bool
	hasBody  bool
	reading  bool      // the first read happened
	readBy   time.Time // the body's deadline
	writeBy  time.Time // the response's deadline
	credit   time.Time // how far the bytes written so far carry the response
	readDone bool
}

func (t *transfer) start(now time.Time, hasBody bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hasBody = hasBody
	if hasBody {
		// Bounds the body even if the handler never reads it: net/http
		// drains what is left of it after the handler.
		t.setReadLocked(now.Add(t.window))
	}
	t.extendWriteLocked(now.Add(t.writeTimeout))
}

// beforeRead starts the body's clock at the first read, not at the
// handler's start: a handler waiting for the database must not use up the
// client's time (the bytes wait in the socket meanwhile).
func (t *transfer) beforeRead(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || t.reading {
		return
	}
	t.reading = true
	t.setReadLocked(now.Add(t.window))
}

func (t *transfer) afterRead(now time.Time, n int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || t.readDone {
		return
	}
	if err == io.EOF {
		// Read whole: no deadline on the connection's reads, which are now
		// net/http's own watch for a client hanging up (a deadline passing
		// there would cancel the request's context).
		t.readDone = true
		t.setReadLocked(time.Time{})
		t.extendWriteLocked(now.Add(t.writeTimeout))
		return
	}
	if n == 0 {
		return
	}
	if by := earn(t.readBy, now, n, t.rate, t.window); by.After(t.readBy) {
		t.setReadLocked(by)
	}
	t.extendWriteLocked(now.Add(t.writeTimeout))
}

func (t *transfer) afterWrite(now time.Time, n int) {
	if n == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.credit = earn(t.credit, now, n, t.rate, t.window)
	t.extendWriteLocked(t.credit)
}

// cut reports whether the body's deadline has passed with the body unread:
// a failing read is then our cut, not the client leaving.
func (t *transfer) cut(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hasBody && !t.readDone && !now.Before(t.readBy)
}

func (t *transfer) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
}

// earn moves deadline by n bytes' worth at rate, from no earlier than now,
// and no further than window ahead of now.
func earn(deadline, now time.Time, n int, rate int64, window time.Duration) time.Time {
	if deadline.Before(now) {
		deadline = now
	}
	deadline = deadline.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
	return minTime(deadline, now.Add(window))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (t *transfer) setReadLocked(by time.Time) {
	if t.done {
		return
	}
	t.readBy = by
	t.rc.SetReadDeadline(by)
}

// extendWriteLocked moves the write deadline later, never earlier.
func (t *transfer) extendWriteLocked(by time.Time) {
	if t.done || t.writeTimeout <= 0 || !by.After(t.writeBy) {
		return
	}
	t.writeBy = by
	t.rc.SetWriteDeadline(by)
}

// boundedBody is a request body under its transfer's deadlines.
type boundedBody struct {
	io.ReadCloser
	t *transfer
}

// errBodyTooSlow is a body cut for arriving too slowly. To handlers it is
// a body that ended before its end (io.ErrUnexpectedEOF), which they answer
// as a malformed request (400); it is not a timeout of ours, which they
// would take for the database out of reach (503).
var errBodyTooSlow = fmt.Errorf("web: request body arrived slower than the minimum rate and was cut: %w", io.ErrUnexpectedEOF)

func (b *boundedBody) Read(p []byte) (int, error) {
	b.t.beforeRead(time.Now())
	n, err := b.ReadCloser.Read(p)
	b.t.afterRead(time.Now(), n, err)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errBodyTooSlow
	}
	return n, err
}

// boundedWriter is a ResponseWriter under its transfer's deadlines.
type boundedWriter struct {
	http.ResponseWriter
	t *transfer
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.t.afterWrite(time.Now(), n)
	return n, err
}

// Flush keeps streaming responses streaming.
func (w *boundedWriter) Flush() {
	w.t.rc.Flush()
}

// Unwrap lets handlers reach the connection's own ResponseWriter through
// http.ResponseController.
func (w *boundedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
