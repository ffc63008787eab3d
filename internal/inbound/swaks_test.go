package inbound_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// swaks is Debian's SMTP test client, a sender that is not ours. Missing,
// the test is skipped on a developer's machine and fails in CI.
func swaks(t *testing.T, w *world, args ...string) (output string, err error) {
	t.Helper()
	path, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("swaks is not installed and CI=true (apt-get install swaks): %v", err)
		}
		t.Skipf("swaks is not installed (apt-get install swaks): %v", err)
	}
	host, port, _ := net.SplitHostPort(w.addr)
	args = append([]string{"--server", host, "--port", port, "--helo", "mta.clinic.test", "--timeout", "30s"}, args...)
	out, err := exec.Command(path, args...).CombinedOutput()
	return string(out), err
}

// journey 9: the provider answers by email, with a file, over STARTTLS with
// the certificate verified; the reply is in the thread as theirs, and the
// file downloads to the bytes sent. The log names the thread, never the
// token, subject, text or file name.
func TestInboundSwaksReplyWithAttachmentOverSTARTTLS(t *testing.T) {
	w := newWorld(t, nil, nil)
	dir := t.TempDir()
	scan := randomBytes(t, 200<<10)
	text := "Chart notes for Mrs Gomez attached.\n\nOn Monday, Rosa Rep wrote:\n> Please send the chart notes.\n"
	bodyFile, scanFile := filepath.Join(dir, "body.txt"), filepath.Join(dir, "gomez-chart.pdf")
	if err := os.WriteFile(bodyFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(scanFile, scan, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := swaks(t, w, "--tls", "--tls-verify", "--tls-ca-path", w.tls.caFile,
		"--from", providerEmail, "--to", w.replyAddress(), "--header", "Subject: Re: "+threadSubject,
		"--body", "@"+bodyFile, "--attach-type", "application/pdf", "--attach", "@"+scanFile)
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}

	m := w.lastMessage()
	if !m.FromProvider || strings.TrimSpace(m.Body) != strings.TrimSpace(text) {
		t.Errorf("last message (from provider %v): %q, want %q", m.FromProvider, m.Body, text)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "gomez-chart.pdf" || m.Attachments[0].ContentType != "application/pdf" {
		t.Fatalf("attachments %+v, want gomez-chart.pdf", m.Attachments)
	}
	if !bytes.Equal(w.download(m.Attachments[0].ID), scan) {
		t.Error("the attachment does not decrypt to the bytes sent")
	}
	logs := w.logs.String()
	if !strings.Contains(logs, `"msg":"inbound: reply stored"`) || !strings.Contains(logs, `"thread_id":"`+w.thread+`"`) || !strings.Contains(logs, `"dkim":"none"`) {
		t.Errorf("no log line of the stored reply with its thread and DKIM result:\n%s", logs)
	}
	for _, secret := range []string{w.token, threadSubject, "Gomez", "gomez-chart", "Chart notes"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
}

// RFC 3207: without STARTTLS the same reply is refused before MAIL, and
// nothing is stored.
func TestInboundSwaksWithoutSTARTTLSIsRefused(t *testing.T) {
	w := newWorld(t, nil, nil)
	scanFile := filepath.Join(t.TempDir(), "scan.pdf")
	if err := os.WriteFile(scanFile, []byte("%PDF-1.4 scan"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := swaks(t, w, "--from", providerEmail, "--to", w.replyAddress(), "--body", "In clear text", "--attach", "@"+scanFile)
	if err == nil {
		t.Fatalf("swaks succeeded without STARTTLS:\n%s", out)
	}
	if !strings.Contains(out, "530 5.7.0 Must issue a STARTTLS command first") {
		t.Errorf("swaks output lacks the 530 answer:\n%s", out)
	}
	w.wantNothingStored("without STARTTLS")
}
