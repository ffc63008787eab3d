package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/blobs/blobstest"
)

// With PORTAL_BLOB_URL=s3:// a file sent through the portal lands in a
// real S3 server and comes back byte for byte. With the bucket down, a new
// file is refused with the busy page (503, nothing stored) and a download
// of an old one too; once it is back, the old file is there.
func TestFilesInABucketAndABucketOutage(t *testing.T) {
	srv := blobstest.Start(t)
	bucket := srv.Bucket(t, "attachments")
	s := newSite(t, map[string]string{"PORTAL_BLOB_URL": srv.URL("attachments"),
		"AWS_ACCESS_KEY_ID": blobstest.Access, "AWS_SECRET_ACCESS_KEY": blobstest.Secret})
	s.staffIn("rep@plan.example", "Rep", "LA")
	staff := s.signedIn("rep@plan.example")
	data := make([]byte, 600<<10)
	rand.Read(data)
	fields := url.Values{"to": {"dr@clinic.example"}, "subject": {"Scans"}, "body": {"Attached."}}
	p := staff.postMessage("/staff/compose", fields, file{"scan.pdf", append([]byte("%PDF-1.7\n"), data...)})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("send with a file: %d", p.Status)
	}
	thread := p.Location
	link := attachmentLinks(staff.get(thread).Body)["scan.pdf"]
	if got := staff.get(link); got.Status != 200 || !bytes.Equal([]byte(got.Body), append([]byte("%PDF-1.7\n"), data...)) {
		t.Fatalf("download: %d, %d bytes", got.Status, len(got.Body))
	}
	if s.count(`SELECT count(*) FROM stream_objects`) != 1 || s.count(`SELECT count(*) FROM data_chunks`) != 0 {
		t.Fatal("the file is not an object in the bucket (or is in data_chunks too)")
	}

	srv.Stop()
	fields.Set("subject", "More scans")
	p = staff.postMessage("/staff/compose", fields, file{"more.pdf", []byte("%PDF-1.7\nmore")})
	if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
		t.Errorf("send with a file during the outage: %d (Retry-After %q), want 503 with Retry-After", p.Status, p.Header.Get("Retry-After"))
	}
	if s.count(`SELECT count(*) FROM threads`) != 1 {
		t.Error("the message refused during the outage was stored")
	}
	if got := staff.get(link); got.Status != http.StatusServiceUnavailable || strings.Contains(got.Body, "%PDF") {
		t.Errorf("download during the outage: %d", got.Status)
	}
	srv.Restart()
	if got := staff.get(link); got.Status != 200 || len(got.Body) != len(data)+9 {
		t.Errorf("download after the outage: %d, %d bytes", got.Status, len(got.Body))
	}

	// Withdrawn, the file's object is listed and the garbage job deletes it.
	var msgID, object string
	if err := s.app.Pool.QueryRow(context.Background(), `SELECT m.id::text, o.name FROM messages m JOIN attachments a ON a.message_id = m.id
		JOIN stream_objects o ON o.data_key_id = a.data_key`).Scan(&msgID, &object); err != nil {
		t.Fatal(err)
	}
	if p := staff.post("/staff/messages/"+msgID+"/recall", nil); p.Status != http.StatusSeeOther {
		t.Fatalf("recall: %d", p.Status)
	}
	if n, err := s.app.Keys.CollectBlobGarbage(context.Background(), 10); err != nil || n != 1 {
		t.Fatalf("garbage run after the recall: %d deleted, %v; want the file's object", n, err)
	}
	if ok, err := bucket.Exists(context.Background(), object); err != nil || ok {
		t.Errorf("the withdrawn file's object is still in the bucket (%v)", err)
	}
}
