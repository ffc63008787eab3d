package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/a-h/templ"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/healthnet/secureportal/templates/mail"
)

// DigestArgs starts the hourly look for providers whose daily digest is due.
type DigestArgs struct{}

func (DigestArgs) Kind() string { return "digest_due" }

// DigestEmailArgs is one provider's daily digest.
type DigestEmailArgs struct {
	UserID int64 `json:"user_id"`
}

func (DigestEmailArgs) Kind() string { return "digest_email" }

// Digests is what the digest workers need from the database
// (postgres.MessagingStore).
type Digests interface {
	DueDigests(ctx context.Context) ([]int64, error)
	Waiting(ctx context.Context, providerID int64) (int, error)
	MarkDigestSent(ctx context.Context, providerID int64) error
}

// DigestWorker queues a digest email for each provider whose digest is due.
// Each is unique per provider and hour, so two runs queue it once.
type DigestWorker struct {
	river.WorkerDefaults[DigestArgs]
	Digests Digests
	Log     *slog.Logger
}

func (w *DigestWorker) Work(ctx context.Context, job *river.Job[DigestArgs]) error {
	ids, err := w.Digests.DueDigests(ctx)
	if err != nil {
		return err
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := client.Insert(ctx, DigestEmailArgs{UserID: id},
			&river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Hour}}); err != nil {
			return err
		}
	}
	w.Log.InfoContext(ctx, "digest run", "queued", len(ids))
	return nil
}

// DigestEmailWorker sends one provider's daily digest: how many messages
// wait, never what they are about, with a link to the inbox; once.
type DigestEmailWorker struct {
	river.WorkerDefaults[DigestEmailArgs]
	AccountMail
	Digests Digests
}

// Timeout is the job's time limit, shorter than River's rescue delay.
func (w *DigestEmailWorker) Timeout(*river.Job[DigestEmailArgs]) time.Duration {
	return w.Limits.orDefault().Mail
}

func (w *DigestEmailWorker) Work(ctx context.Context, job *river.Job[DigestEmailArgs]) error {
	n, err := w.Digests.Waiting(ctx, job.Args.UserID)
	if err != nil || n == 0 {
		return err // read meanwhile: nothing to announce
	}
	err = w.notice(sentDigest).send(ctx, job.JobRow, job.Args.UserID, func(sp mail.Speech) (string, string, templ.Component) {
		v := mail.DigestView{Speech: sp, OrgName: w.Site.OrgName, Count: n, InboxURL: w.Site.link("/inbox"), AccountURL: w.Site.link("/account/profile"),
			HelpURL: w.Site.link("/help"), Contacts: w.Site.Contacts}
		return v.Subject(), v.Text(), mail.DigestHTML(v)
	})
	if err != nil {
		return err
	}
	return w.Digests.MarkDigestSent(ctx, job.Args.UserID)
}
