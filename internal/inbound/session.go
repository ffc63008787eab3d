package inbound

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/healthnet/secureportal/internal/messaging"
)

// replyTimeout bounds the database work of one reply. The message is
// already read and spooled by then, so this is a local transaction.
const replyTimeout = time.Minute

// The answers of this server, with RFC 3463 enhanced codes. Their texts are
// fixed: an answer never repeats what the sender wrote or why the store
// failed.
var (
	// RFC 3207 §4: a server may refuse mail until the client has started
	// TLS. A reply carries PHI, so cleartext is never accepted.
	errNeedTLS     = smtpErr(530, 5, 7, 0, "Must issue a STARTTLS command first")
	errNoSuchReply = smtpErr(550, 5, 1, 1, "No such reply address")
	errRelay       = smtpErr(550, 5, 7, 1, "Relaying not permitted: this server takes only replies to its own addresses")
	errWrongSender = smtpErr(550, 5, 7, 1, "This sender may not reply to this thread")
	errFileType    = smtpErr(550, 5, 7, 1, "Attachment type not accepted")
	errTooBig      = smtpErr(552, 5, 3, 4, "Message or attachment too large, or too many attachments")
	errMalformed   = smtpErr(550, 5, 6, 0, "Message could not be read as MIME")
	errEmpty       = smtpErr(550, 5, 6, 0, "The reply has no text or its text is too long")
	// RFC 5321 §4.2.1: 4yz means "try again later"; the sender's server
	// will, so a passing fault (database down) loses nothing.
	errTemporary = smtpErr(451, 4, 3, 0, "Temporary failure, please try again later")
)

func smtpErr(code, class, subject, detail int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: text}
}

// session is one SMTP conversation. After STARTTLS go-smtp starts a new
// one, so nothing said in cleartext carries over.
type session struct {
	srv    *Server
	ctx    context.Context
	conn   *smtp.Conn
	ip     string
	from   string
	target *Target
}

func (s *session) Reset() { s.from, s.target = "", nil }

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if _, ok := s.conn.TLSConnectionState(); !ok {
		s.srv.log.Info("inbound: refused mail without STARTTLS", "remote_ip", s.ip)
		return errNeedTLS
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	token, refusal := s.srv.tokenOf(to)
	if refusal != nil {
		s.srv.log.Info("inbound: refused recipient", "remote_ip", s.ip, "code", refusal.Code, "reason", "not a reply address")
		return refusal
	}
	ctx, cancel := context.WithTimeout(s.ctx, replyTimeout)
	defer cancel()
	t, err := s.srv.targets.ReplyTarget(ctx, token)
	if errors.Is(err, messaging.ErrNotFound) {
		s.srv.log.Info("inbound: refused recipient", "remote_ip", s.ip, "code", 550, "reason", "unknown or revoked token")
		return errNoSuchReply
	}
	if err != nil {
		s.srv.log.Error("inbound: resolve reply address", "remote_ip", s.ip, "error", err)
		return errTemporary
	}
	// The token alone is not enough: it travels in mail headers, so the
	// envelope sender must also be the thread's provider (addresses are
	// compared without case, as mail systems treat them).
	if !strings.EqualFold(s.from, t.ProviderEmail) {
		s.srv.log.Warn("inbound: refused sender", "remote_ip", s.ip, "thread_id", t.ThreadID, "code", 550, "reason", "not the thread's provider")
		return errWrongSender
	}
	s.target = &t
	return nil
}

// tokenOf returns the token of reply+<token>@<reply domain>, or the answer
// to any other address.
func (srv *Server) tokenOf(addr string) (string, *smtp.SMTPError) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.EqualFold(addr[at+1:], srv.settings.Domain) {
		return "", errRelay
	}
	local := addr[:at]
	const prefix = "reply+"
	if len(local) <= len(prefix) || !strings.EqualFold(local[:len(prefix)], prefix) {
		return "", errNoSuchReply
	}
	return local[len(prefix):], nil
}

func (s *session) Data(r io.Reader) error {
	if s.target == nil {
		return errNoSuchReply // go-smtp asks for a recipient first; kept in case it stops
	}
	if !s.srv.begin() {
		return errTemporary // stopping: the sender's server will try again
	}
	defer s.srv.inflight.Done()
	t := *s.target
	msg, dkim, err := s.receive(r)
	if msg != nil {
		defer msg.Close()
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(s.ctx, replyTimeout)
		err = s.srv.replier.Reply(ctx, messaging.Viewer{UserID: t.ProviderID, IP: s.ip}, t.ThreadID, msg.body, msg)
		cancel()
	}
	if err != nil {
		return s.refuse(t, dkim, err)
	}
	s.srv.log.Info("inbound: reply stored", "remote_ip", s.ip, "thread_id", t.ThreadID, "provider_id", t.ProviderID,
		"dkim", string(dkim), "attachments", len(msg.files))
	if s.srv.OnReceived != nil {
		s.srv.OnReceived(Received{ThreadID: t.ThreadID, ProviderID: t.ProviderID, RemoteIP: s.ip, DKIM: dkim, Attachments: len(msg.files)})
	}
	return nil
}

// receive reads the whole message, checking its DKIM signatures on the way.
// A failure of the connection or the size limit comes first: it is the
// sender's, whatever the parser made of the cut message.
func (s *session) receive(r io.Reader) (*reply, DKIMResult, error) {
	wire := &wireReader{r: r, conn: s.conn.Conn(), idle: s.srv.settings.ReadTimeout}
	check := s.srv.checkDKIM(s.ctx, wire, s.from)
	msg, err := s.srv.readReply(check.reader)
	dkim := check.finish(err == nil && wire.err == nil)
	// Read what a refusal left unread here, where each read renews the
	// deadline: go-smtp's own draining does not, and a slow sender would
	// get a dropped connection (and retry) instead of the refusal.
	io.Copy(io.Discard, wire)
	if wire.err != nil {
		err = wire.err
	}
	return msg, dkim, err
}

// refuse answers a reply that was not stored (the store's transaction rolled
// back, so nothing of it remains) and logs why, without its content.
func (s *session) refuse(t Target, dkim DKIMResult, err error) error {
	answer, reason := answerFor(err)
	attrs := []any{"remote_ip", s.ip, "thread_id", t.ThreadID, "dkim", string(dkim), "code", answer.Code, "reason", reason}
	if answer == errTemporary {
		s.srv.log.Error("inbound: reply not stored", append(attrs, "error", err)...)
	} else {
		s.srv.log.Info("inbound: reply refused", attrs...)
	}
	return answer
}

// answerFor maps why a reply was not stored to its SMTP answer (RFC 5321
// §4.2: 5yz the sender must not retry as is, 4yz it may).
func answerFor(err error) (*smtp.SMTPError, string) {
	var fields messaging.FieldErrors
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return errTooBig, "message too large"
	case errors.Is(err, messaging.ErrFileRefused):
		return errFileType, "attachment type refused"
	case errors.Is(err, messaging.ErrTooLarge):
		return errTooBig, "attachment too large"
	case errors.Is(err, messaging.ErrTooManyFiles):
		return errTooBig, "too many attachments"
	case errors.As(err, &fields):
		return errEmpty, "body refused"
	case errors.Is(err, errNotMIME):
		return errMalformed, "malformed message"
	case errors.Is(err, messaging.ErrNotFound), errors.Is(err, messaging.ErrWithdrawn):
		return errNoSuchReply, "thread gone"
	}
	return errTemporary, "internal error"
}

// wireReader is the DATA stream. It keeps the first read error (an
// oversize message, a broken connection), which is the sender's fault
// whatever the parser made of it, and it renews the read deadline on each
// read: go-smtp sets one per command, which would otherwise bound the whole
// transfer of a large message.
type wireReader struct {
	r    io.Reader
	conn net.Conn
	idle time.Duration
	err  error
}

func (w *wireReader) Read(p []byte) (int, error) {
	if err := w.conn.SetReadDeadline(time.Now().Add(w.idle)); err != nil && w.err == nil {
		w.err = err
	}
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF && w.err == nil {
		w.err = err
	}
	return n, err
}
