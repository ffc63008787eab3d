package delivery_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/mail"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/delivery/deliverytest"
	"github.com/healthnet/secureportal/internal/testlog"
)

// phiMarker stands for PHI in every test message: no server that failed
// a check may ever see it.
const phiMarker = "PHI-MARKER-Jane-Doe-DOB-1970-01-01"

// One domain per kind of MX host; the domain "<kind>.example" has the
// single MX "mx.<kind>.example".
var kinds = []string{"valid", "plain", "selfsigned", "expired", "wrongname", "tls10", "dropped", "rejects", "busy"}

// zoo is a World with one peer of every kind.
type zoo struct {
	*deliverytest.World
	peers map[string]*deliverytest.Peer
}

func newZoo(t *testing.T) *zoo {
	t.Helper()
	w := deliverytest.NewWorld(t)
	ca := w.CA
	cfgs := map[string]deliverytest.PeerConfig{
		"valid":      {Mode: deliverytest.STARTTLS, Cert: ca.Leaf(t, "mx.valid.example")},
		"plain":      {Mode: deliverytest.NoSTARTTLS},
		"selfsigned": {Mode: deliverytest.STARTTLS, Cert: deliverytest.SelfSigned(t, "mx.selfsigned.example")},
		"expired":    {Mode: deliverytest.STARTTLS, Cert: ca.Expired(t, "mx.expired.example")},
		"wrongname":  {Mode: deliverytest.STARTTLS, Cert: ca.Leaf(t, "*.host.example")},
		"tls10":      {Mode: deliverytest.TLS10Only, Cert: ca.Leaf(t, "mx.tls10.example")},
		"dropped":    {Mode: deliverytest.DropAfterSTARTTLS, Cert: ca.Leaf(t, "mx.dropped.example")},
		"rejects": {Mode: deliverytest.STARTTLS, Cert: ca.Leaf(t, "mx.rejects.example"),
			RcptError: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}},
		"busy": {Mode: deliverytest.STARTTLS, Cert: ca.Leaf(t, "mx.busy.example"),
			RcptError: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"}},
	}
	var list []deliverytest.PeerConfig
	for _, k := range kinds {
		c := cfgs[k]
		c.Host = "mx." + k + ".example"
		list = append(list, c)
	}
	z := &zoo{World: w, peers: map[string]*deliverytest.Peer{}}
	for i, p := range w.StartPeers(list...) {
		z.peers[kinds[i]] = p
		w.MX(kinds[i]+".example", p.Host)
	}
	return z
}

// clock runs with real time plus an offset the test moves forward, so
// cache expiry can be tested without waiting.
type clock struct{ offset atomic.Int64 }

func newClock() *clock { return &clock{} }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// router builds a Router, its Transport and store over settings; logs go
// to the returned buffer.
func router(t *testing.T, s delivery.Settings) (*delivery.Router, *delivery.Transport, *delivery.MemoryStore, *testlog.Buffer) {
	t.Helper()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := &delivery.MemoryStore{}
	checker, err := delivery.NewChecker(s, store, log)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	transport, err := delivery.NewTransport(s, log)
	if err != nil {
		t.Fatalf("NewTransport: %v", err)
	}
	return delivery.NewRouter(checker, store, store, log), transport, store, logs
}

func decide(t *testing.T, r *delivery.Router, domain string) delivery.Decision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := r.Decide(ctx, domain)
	if err != nil {
		t.Fatalf("Decide(%s): %v", domain, err)
	}
	return d
}

// secureMessage is a test message whose body and attachment carry the
// PHI marker.
func secureMessage(to string) func(io.Writer) error {
	return func(w io.Writer) error {
		return delivery.WriteMessage(w, delivery.Outgoing{
			From:    mail.Address{Name: "Rep Name", Address: "noreply@portal.test"},
			To:      mail.Address{Address: to},
			ReplyTo: mail.Address{Address: "reply+token@portal.test"},
			Subject: "[SECURE] Lab results",
			Text:    "Results for " + phiMarker,
			Attachments: []delivery.OutgoingAttachment{{
				Name: "results.txt", ContentType: "text/plain",
				Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(phiMarker))), nil },
			}},
		})
	}
}
