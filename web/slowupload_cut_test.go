package web_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// An upload that stops arriving is cut a body window later and answered as
// the truncated request it is (400), not as a fault of ours (500) or the
// database out of reach (503); nothing is stored.
func TestStalledUploadIsCutAsABadRequest(t *testing.T) {
	const window = time.Second
	s := newSite(t, map[string]string{"PORTAL_BODY_TIMEOUT": window.String()})
	s.staffIn("rep@plan.example", "Rep", "LA")
	staff := s.signedIn("rep@plan.example")

	// The same portal on the real server, with its deadlines.
	ln, cancel, served := serveOnLoopback(t, s)
	defer func() { cancel(); <-served }()

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("to", "dr@clinic.example")
	mw.WriteField("subject", "Scans")
	mw.WriteField("body", "Sending scans.")
	fw, _ := mw.CreateFormFile("attachments", "scan.pdf")
	fw.Write(make([]byte, 256<<10))
	// The rest of the file, and the closing boundary, never come.

	base, _ := url.Parse(s.URL)
	var cookies []string
	for _, c := range staff.c.Jar.Cookies(base) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second)) // turns a hang into a failure
	fmt.Fprintf(c, "POST /staff/compose HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		base.Host, strings.Join(cookies, "; "), mw.FormDataContentType(), form.Len()+1<<20)
	c.Write(form.Bytes())
	sent := time.Now()
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a stalled upload got no answer: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	took := time.Since(sent)
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("a stalled upload was answered %d, want 400", res.StatusCode)
	}
	if took > window+2*time.Second {
		t.Errorf("a stalled upload was answered after %v, want about %v", took, window)
	}
	inbox := staff.get("/staff")
	must(t, "inbox shown", inbox.Status == http.StatusOK)
	must(t, "nothing stored", !strings.Contains(inbox.Body, "Scans"))
	contains(t, "log", s.logs.String(), "arrived slower than the minimum rate")
}

// serveOnLoopback runs the site on the real server (Web.Serve, with its
// deadlines and shutdown) on a loopback port until cancel; served gets
// Serve's result.
func serveOnLoopback(t *testing.T, s *site) (ln net.Listener, cancel context.CancelFunc, served chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served = make(chan error, 1)
	go func() { served <- s.app.Web.Serve(ctx, ln) }()
	return ln, cancel, served
}
