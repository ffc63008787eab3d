package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// Crash safety of the mail jobs (README "Secure messaging": a crash neither
// loses nor doubles a notification).
//
// River runs a job at least once: a process killed while a job runs leaves
// it "running", and River's rescuer makes it available again once it has
// been running for Limits.RescueAfter. A mail job may therefore run again
// after its email went out. Each one checks SentMail before sending and
// marks it right after the server accepted the email (in the SMTP session,
// before QUIT), so a job run again finds the mark and ends without mailing.
// The email's Message-ID is derived from the job (mailKey), so in the
// milliseconds between the server's 250 and the mark, a second copy carries
// the same Message-ID and the receiving system can drop it.

// SentMail remembers which jobs' emails the mail server accepted, by River
// job id (the same on every attempt of a job): postgres.MailSent.
type SentMail interface {
	SentBy(ctx context.Context, jobID int64) (kind string, sent bool, err error)
	MarkSent(ctx context.Context, jobID int64, kind string) error
}

// Kinds of sent email (mail_sent.kind).
const (
	sentNotification    = "notification"
	sentTLSDelivery     = "tls_delivery"
	sentLink            = "link"
	sentPasswordChanged = "password_changed"
	sentSecurityNotice  = "security_notice"
	sentDigest          = "digest"
	sentPracticeInvite  = "practice_invite"
)

// Limits are the jobs' time limits. Each is shorter than RescueAfter, so
// River never runs a job again while an attempt may still be working: a job
// past its limit has its context cancelled, and RescueAfter leaves that
// attempt time to give up before another may start.
type Limits struct {
	// RescueAfter is River's RescueStuckJobsAfter.
	RescueAfter time.Duration
	// Mail bounds a link or password-changed email (one SMTP session,
	// whose every step has its own 30 s timeout).
	Mail time.Duration
	// Delivery bounds a message notification, which may deliver the whole
	// message, with its attachments, over TLS to the provider's server.
	Delivery time.Duration
	// Batch bounds one stint of purging or rewrapping; a rewrap that made
	// progress carries on in the next stint.
	Batch time.Duration
}

// defaultRescueAfter is PORTAL_JOB_RESCUE_AFTER's default (internal/config).
const defaultRescueAfter = 2 * time.Minute

// NewLimits derives the time limits from rescueAfter: by default (2 min)
// a minute for an email, 90 s for a delivery, a minute per batch stint.
func NewLimits(rescueAfter time.Duration) Limits {
	return Limits{RescueAfter: rescueAfter, Mail: rescueAfter / 2, Delivery: rescueAfter * 3 / 4, Batch: rescueAfter / 2}
}

// orDefault is l, or the defaults when l is the zero value (tests that
// build a worker without limits).
func (l Limits) orDefault() Limits {
	if l.RescueAfter == 0 {
		return NewLimits(defaultRescueAfter)
	}
	return l
}

// mailKey names one job's email for its Message-ID. An email that carries a
// freshly minted link differs on every attempt (the new link voids the
// last), so its key names the attempt too: a receiver must not drop the copy
// whose link works as a duplicate of one whose link no longer does.
func mailKey(kind string, jobID int64, attempt int, mintsLink bool) string {
	k := kind + "/" + strconv.FormatInt(jobID, 10)
	if mintsLink {
		k += "/attempt/" + strconv.Itoa(attempt)
	}
	return k
}

// sentBefore says whether an earlier attempt of job jobID had its email
// accepted (never, without a SentMail).
func sentBefore(ctx context.Context, s SentMail, jobID int64) (string, bool, error) {
	if s == nil {
		return "", false, nil
	}
	kind, sent, err := s.SentBy(ctx, jobID)
	if err != nil {
		return "", false, fmt.Errorf("jobs: was job %d's email sent: %w", jobID, err)
	}
	return kind, sent, nil
}

// markFor bounds how long markSent keeps trying: the email is out, so a
// failed mark would send it again on the retry. It outlasts a database
// restart (a fast stop and start take a few seconds; the fault test's
// outage lasts ten), and markBackoff caps the pause between tries.
const (
	markFor     = 30 * time.Second
	markBackoff = 2 * time.Second
)

// markSent records that job jobID's email was accepted. It keeps going when
// ctx ends (the job's time limit may strike right after the server's 250)
// and retries a failing database until markFor has passed.
func markSent(ctx context.Context, s SentMail, log *slog.Logger, jobID int64, kind string) error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markFor)
	defer cancel()
	var err error
	for try := 1; ; try++ {
		if err = s.MarkSent(ctx, jobID, kind); err == nil {
			return nil
		}
		log.WarnContext(ctx, "recording a sent email failed; retrying", "job_id", jobID, "kind", kind, "try", try, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("jobs: email of job %d was sent but could not be recorded: %w", jobID, err)
		case <-time.After(min(time.Duration(try)*200*time.Millisecond, markBackoff)):
		}
	}
}
