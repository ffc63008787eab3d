package web_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// patternReader yields n deterministic pseudo-random bytes without holding
// them: the test itself must not be what uses memory.
type patternReader struct {
	rng  *rand.ChaCha8
	left int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	p.rng.Read(b)
	p.left -= int64(len(b))
	return len(b), nil
}

// A 100 MiB attachment goes up and comes back through HTTP, the envelope
// store and PostgreSQL with the heap staying flat: memory must not grow with
// the file. Client and server share this process, so the figure covers both.
func TestLargeAttachmentRoundTripKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB round trip skipped in -short mode")
	}
	const size = 100 << 20
	s := newSite(t, map[string]string{"PORTAL_MAX_FILE_BYTES": fmt.Sprint(size), "PORTAL_MAX_MESSAGE_BYTES": fmt.Sprint(size)})
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	staff := s.signedIn("rep.la@plan.example")

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	go sampleHeap(stop, &peak)

	seed := [32]byte{7}
	want := sha256.New()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for k, v := range map[string]string{"to": "dr@clinic.example", "subject": "Imaging", "body": "Large study attached."} {
			mw.WriteField(k, v)
		}
		w, _ := mw.CreateFormFile("attachments", "study.zip")
		io.Copy(io.MultiWriter(w, want), &patternReader{rng: rand.NewChaCha8(seed), left: size})
		mw.Close()
		pw.Close()
	}()
	start := time.Now()
	p := staff.do(http.MethodPost, "/staff/compose", nil, http.Header{"Content-Type": {mw.FormDataContentType()}}, pr)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", p.Status, p.Body[:min(len(p.Body), 300)])
	}
	up := time.Since(start)
	page := staff.get(p.Location)
	link := attachmentLinks(page.Body)["study.zip"]

	start = time.Now()
	req, _ := http.NewRequest(http.MethodGet, s.URL+link, nil)
	res, err := staff.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, res.Body)
	res.Body.Close()
	down := time.Since(start)
	close(stop)
	if err != nil || n != size || string(got.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatalf("download: %d bytes, err %v, equal %v", n, err, string(got.Sum(nil)) == string(want.Sum(nil)))
	}
	growth := float64(peak.Load()-min(peak.Load(), base.HeapAlloc)) / (1 << 20)
	t.Logf("100 MiB attachment: upload %v, download %v, peak heap growth %.1f MiB (client and server)", up.Round(time.Millisecond), down.Round(time.Millisecond), growth)
	if growth > 32 {
		t.Errorf("heap grew %.1f MiB for a 100 MiB file: memory follows the file size", growth)
	}
}
