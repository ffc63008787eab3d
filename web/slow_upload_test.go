package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A clinic on a poor connection may take minutes to send a scan. While its
// bytes trickle in, the upload must hold neither a database connection nor
// the thread's row lock: if it did, as many slow uploads as the pool has
// connections would stop every page of the portal (sessions live in the
// database too), and a slow reply would block every other reply to its
// thread.
func TestSlowUploadsHoldNoDatabaseConnection(t *testing.T) {
	const head = 16 << 20 // more than loopback socket buffers hold: the server is reading the file
	s := newSite(t, map[string]string{"PORTAL_MAX_FILE_BYTES": fmt.Sprint(head + 1<<20), "PORTAL_MAX_MESSAGE_BYTES": fmt.Sprint(head + 1<<20)})
	s.staffIn("rep@plan.example", "Rep", "LA")
	staff := s.signedIn("rep@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Scans"}, "body": {"Sending scans."}})
	must(t, "thread started", p.Status == http.StatusSeeOther)
	thread := threadID(t, p.Location)
	replyURL := s.URL + "/staff/threads/" + thread + "/reply"

	slow := int(s.app.Pool.Stat().MaxConns()) + 1
	release := make(chan struct{})
	written := make(chan error, slow)
	answers := make(chan error, slow)
	for i := range slow {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			mw.WriteField("body", "Scan attached.")
			w, _ := mw.CreateFormFile("attachments", fmt.Sprintf("scan-%d.pdf", i))
			_, err := w.Write(make([]byte, head))
			written <- err
			<-release
			w.Write([]byte("the end of the scan"))
			mw.Close()
			pw.Close()
		}()
		go func() {
			req, _ := http.NewRequest(http.MethodPost, replyURL, pr)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			res, err := staff.c.Do(req)
			if err == nil {
				res.Body.Close()
				if res.StatusCode != http.StatusSeeOther {
					err = fmt.Errorf("status %d", res.StatusCode)
				}
			}
			answers <- err
		}()
	}
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	// The deadline only turns a hang into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range slow {
		select {
		case err := <-written:
			if err != nil {
				t.Fatalf("sending the first part of a scan: %v", err)
			}
		case <-ctx.Done():
			t.Fatalf("the server stopped reading some of %d slow uploads: they are waiting for a database connection", slow)
		}
	}

	// Every upload is now part-way through its file and paused. The rest of
	// the portal must carry on.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/staff/threads/"+thread, nil)
	res, err := staff.c.Do(req)
	if err != nil {
		t.Fatalf("a page while %d uploads were paused part-way: %v (uploads are holding the database)", slow, err)
	}
	res.Body.Close()
	must(t, "thread page served during slow uploads", res.StatusCode == http.StatusOK)
	var note bytes.Buffer
	mw := multipart.NewWriter(&note)
	mw.WriteField("body", "A quick note while the scans upload.")
	mw.Close()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, replyURL, &note)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err = staff.c.Do(req)
	if err != nil {
		t.Fatalf("a reply to the same thread while uploads were paused: %v (uploads are holding the thread's lock)", err)
	}
	res.Body.Close()
	must(t, "reply stored during slow uploads", res.StatusCode == http.StatusSeeOther)

	close(release)
	released = true
	for range slow {
		if err := <-answers; err != nil {
			t.Fatalf("a slow upload, once finished: %v", err)
		}
	}
	page := staff.get("/staff/threads/" + thread)
	links := attachmentLinks(page.Body)
	for i := range slow {
		name := fmt.Sprintf("scan-%d.pdf", i)
		must(t, name+" stored", links[name] != "")
	}
	got := staff.get(links["scan-0.pdf"])
	must(t, "the stored scan has every byte", len(got.Body) == head+len("the end of the scan") && strings.HasSuffix(got.Body, "the end of the scan"))
}
