// Package app assembles the running application from its configuration:
// database stores, domain services, background job workers and the HTTP
// server. cmd/portal and the end-to-end tests build it the same way.
package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/blobs"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/jobs"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/password"
	"github.com/healthnet/secureportal/internal/postgres"
	"github.com/healthnet/secureportal/internal/practices"
	"github.com/healthnet/secureportal/web"
)

// dekCacheSize bounds how many unwrapped data keys stay in memory for reads.
const dekCacheSize = 1024

// App is the assembled portal.
type App struct {
	Config   *config.Config
	Log      *slog.Logger
	Pool     *pgxpool.Pool
	Jobs     *river.Client[pgx.Tx]
	Accounts *accounts.Service
	// Keys is the envelope-encryption store of every encrypted record.
	Keys     *postgres.DataKeys
	Messages *messaging.Service
	// Practices are the practices' shared mailboxes (issue 15).
	Practices *practices.Service
	// MessageStore also runs retention (the purge job calls it).
	MessageStore *postgres.MessagingStore
	// Delivery decides per mail domain how messages go (TLS or portal).
	Delivery *delivery.Router
	// ReplyTokens resolve the reply addresses of TLS-delivered mail.
	ReplyTokens *postgres.ReplyTokens
	Metrics     *web.Metrics
	Web         *web.Server

	reloader      kekReloader // the KEK provider, when it can look again
	keyringReload time.Duration
	db            *postgres.Database
	// mailSent records the emails the mail server accepted, on connections
	// of its own (closed by Stop).
	mailSent *postgres.MailSent
	// stopBackground ends the keyring reloads and the sweeper; background
	// waits for them.
	stopBackground context.CancelFunc
	background     sync.WaitGroup
}

// sweepEvery is how often expired sessions and stale rate-limit counts are
// deleted.
const sweepEvery = 5 * time.Minute

// searchIndexEvery is how often new messages are indexed for search.
const searchIndexEvery = time.Minute

// keyringReloadEvery is how soon an instance notices a keyring file that
// another process rotated: until then it still wraps new DEKs under the
// previous version (which remains readable everywhere).
const keyringReloadEvery = time.Minute

// Options are seams for tests; the zero value is production.
type Options struct {
	// Now is the clock of the account rules (token expiry, lockouts).
	Now func() time.Time
	// KeyringReload is how often the keyring file is re-read (0: every
	// minute).
	KeyringReload time.Duration
	// RestrictedRole says the database role does not own the schema
	// (PORTAL_MIGRATE_DATABASE_URL): River's nightly reindex, which needs
	// ownership, is left to the owner.
	RestrictedRole bool
}

// New builds the portal over an already migrated database.
// keyring wraps every data key; serve loads and checks it first.
func New(cfg *config.Config, log *slog.Logger, pool *pgxpool.Pool, keyring envelope.KEKProvider, opts Options) (*App, error) {
	hasher, err := password.NewHasher(password.DefaultParams, cfg.Accounts.MaxHashes)
	if err != nil {
		return nil, fmt.Errorf("portal: password hasher: %w", err)
	}
	workers := river.NewWorkers()
	// A job left running by a crashed process is run again after
	// PORTAL_JOB_RESCUE_AFTER (2m); every job kind's time limit is shorter.
	limits := jobs.NewLimits(cfg.JobRescueAfter)
	var reindex []string // nil: River's default set
	if opts.RestrictedRole {
		reindex = []string{}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ReindexerIndexNames: reindex,
		Queues:              map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: JobWorkers}},
		// River fetches new jobs at most this often, and a worker that
		// finished waits for the next fetch: with its default (100 ms), 8
		// workers sent at most 80 notifications a second (issue 12 asks
		// 500). A fetch is one small query, so 10 ms costs little when busy
		// and nothing when idle (new jobs also arrive by LISTEN/NOTIFY).
		FetchCooldown: 10 * time.Millisecond,
		Workers:       workers,
		Logger:        log.With("component", "river"),
		// A mail that cannot be sent is retried with River's backoff for
		// about a day before the job is discarded (and logged).
		MaxAttempts: 12,
		// Each worker sets its own limit (jobs.Limits); this covers any
		// other. A mail job run again after a crash checks mail_sent first.
		JobTimeout:           limits.Mail,
		RescueStuckJobsAfter: limits.RescueAfter,
		// Retention runs every 15 minutes on the elected leader only.
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(15*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return jobs.PurgeArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}),
			// Providers who chose one email a day hear of waiting messages
			// from this hourly look (internal/jobs/digest.go).
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
				func() (river.JobArgs, *river.InsertOpts) { return jobs.DigestArgs{}, nil }, nil),
			// New messages get their search tokens within a minute; until
			// then a search decrypts them (internal/postgres/searchindex.go).
			river.NewPeriodicJob(river.PeriodicInterval(searchIndexEvery),
				func() (river.JobArgs, *river.InsertOpts) { return jobs.SearchIndexArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})},
	})
	if err != nil {
		return nil, fmt.Errorf("portal: job client: %w", err)
	}
	keys := postgres.NewDataKeys(pool, keyring, dekCacheSize, log.With("component", "datakeys"))
	if cfg.Blobs.InBucket() {
		bucket, err := blobs.OpenS3(cfg.Blobs.URL, cfg.Blobs.AccessKey, cfg.Blobs.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("portal: %w", err)
		}
		keys.UseBlobs(bucket)
		// Objects of shredded attachments leave the bucket within a
		// minute (internal/postgres/blobs.go); with streams in PostgreSQL
		// nothing is ever listed, so nothing is scheduled.
		client.PeriodicJobs().Add(river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return jobs.BlobGarbageArgs{}, nil }, nil))
	}
	river.AddWorker(workers, &jobs.BlobGarbageWorker{Blobs: keys, Limits: limits, Log: log.With("component", "jobs")})
	accountSvc := accounts.New(postgres.NewAccountStore(pool, client, keys), hasher, accounts.Settings{
		OrgName:          cfg.Org.Name,
		RegistrationTTL:  cfg.Accounts.RegistrationTTL,
		ResetTTL:         cfg.Accounts.ResetTTL,
		LockoutThreshold: cfg.Accounts.LockoutThreshold,
		LockoutDuration:  cfg.Accounts.LockoutDuration,
		MFA:              accounts.MFAPolicy{Staff: accounts.Requirement(cfg.Accounts.MFAStaff), Provider: accounts.Requirement(cfg.Accounts.MFAProvider)},
	}, log.With("component", "accounts"), opts.Now)

	db := postgres.NewDatabase(pool)
	metrics := web.NewMetrics(poolCollector{db}, jobCollector{db})
	mailer := delivery.NewSMTPMailer(cfg, log.With("component", "mail"))
	mailer.Observe = metrics.ObserveMail
	site := jobs.MailSite{BaseURL: cfg.BaseURL, OrgName: cfg.Org.Name, Contacts: contactLines(cfg.Org.Contacts),
		RegistrationTTL: cfg.Accounts.RegistrationTTL, ResetTTL: cfg.Accounts.ResetTTL}
	jobLog := log.With("component", "jobs")
	sent := postgres.NewMailSent(pool)
	accountMail := jobs.AccountMail{Accounts: accountSvc, Mailer: mailer, Site: site, Sent: sent, Limits: limits, Log: jobLog}
	river.AddWorker(workers, &jobs.LinkEmailWorker{AccountMail: accountMail})
	river.AddWorker(workers, &jobs.PasswordChangedWorker{AccountMail: accountMail})
	river.AddWorker(workers, &jobs.SecurityNoticeWorker{AccountMail: accountMail})
	river.AddWorker(workers, &jobs.RewrapWorker{Keys: keys, Limits: limits, Log: jobLog})
	messageStore := postgres.NewMessagingStore(pool, keys, client, postgres.MessagingLimits{
		MaxFileBytes: cfg.Uploads.MaxFileBytes, MaxFiles: cfg.Uploads.MaxFiles, SearchTime: cfg.SearchTime})
	deliveryStore := postgres.NewDeliveryStore(pool)
	router, err := newRouter(cfg, deliveryStore, log.With("component", "delivery"))
	if err != nil {
		sent.Close()
		return nil, err
	}
	replyTokens := postgres.NewReplyTokens(pool)
	tls, err := newTLSDelivery(cfg, router, messageStore, replyTokens, log.With("component", "delivery"))
	if err != nil {
		sent.Close()
		return nil, err
	}
	river.AddWorker(workers, &jobs.NotifyWorker{Messages: messageStore, Accounts: accountSvc, Mailer: mailer, Site: site,
		TLS: tls, Deliveries: deliveryStore, Sent: sent, Limits: limits, Observe: metrics.ObserveDelivery, Log: jobLog})
	river.AddWorker(workers, &jobs.DigestWorker{Digests: messageStore, Log: jobLog})
	river.AddWorker(workers, &jobs.DigestEmailWorker{AccountMail: accountMail, Digests: messageStore})
	messages := messaging.NewService(messageStore)
	practiceSvc := practices.New(postgres.NewPracticeStore(pool, client), opts.Now)
	river.AddWorker(workers, &jobs.PracticeInviteWorker{AccountMail: accountMail, Practices: practiceSvc})
	drafts := postgres.NewDrafts(pool, keys)
	river.AddWorker(workers, &jobs.SearchIndexWorker{Index: messageStore, Limits: limits, Log: jobLog})
	river.AddWorker(workers, &jobs.PurgeWorker{Store: messageStore, Retention: cfg.Retention, Sent: sent, Drafts: drafts, Limits: limits, Log: jobLog})

	return &App{
		Config:        cfg,
		Log:           log,
		Pool:          pool,
		Jobs:          client,
		Accounts:      accountSvc,
		Keys:          keys,
		Messages:      messages,
		Practices:     practiceSvc,
		MessageStore:  messageStore,
		Delivery:      router,
		ReplyTokens:   replyTokens,
		mailSent:      sent,
		Metrics:       metrics,
		reloader:      reloaderOf(keyring),
		keyringReload: cmp.Or(opts.KeyringReload, keyringReloadEvery),
		db:            db,
		Web: web.New(cfg, log, metrics, web.Services{Accounts: accountSvc, Messages: messages, Practices: practiceSvc, Audit: postgres.NewAuditLog(pool),
			Keys:     keyAdmin{keyring: adminKEKsOf(keyring), keys: keys, accounts: accountSvc},
			Sessions: db.SessionStore(), RateLimits: postgres.NewRateLimits(pool), Readiness: db,
			Delivery: deliveryAdmin{router, deliveryStore}, Drafts: drafts}),
	}, nil
}

// Start starts the background job workers.
func (a *App) Start(ctx context.Context) error {
	if err := a.Jobs.Start(ctx); err != nil {
		return fmt.Errorf("portal: start jobs: %w", err)
	}
	ctx, a.stopBackground = context.WithCancel(ctx)
	if a.reloader != nil {
		a.background.Go(func() { a.reloadKeyring(ctx) })
	}
	a.background.Go(func() { a.sweepExpired(ctx) })
	return nil
}

// sweepExpired deletes expired session rows and stale rate-limit counts now
// and then, so those tables hold only what can still matter.
func (a *App) sweepExpired(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := a.db.SweepExpired(ctx, now); err != nil && ctx.Err() == nil {
				a.Log.Warn("sweep expired sessions and rate limits", "err", err)
			}
		}
	}
}

// reloadKeyring re-reads the keyring file now and then, so that after a
// rotation made elsewhere (an admin command, another instance) this instance
// wraps new DEKs under the new version without a restart.
func (a *App) reloadKeyring(ctx context.Context) {
	t := time.NewTicker(a.keyringReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := a.reloader.Reload()
			switch {
			case err != nil:
				a.Log.Warn("KEK reload failed; keeping the keys in memory", "provider", a.Config.KEK.Provider, "path", a.Config.KeyringPath, "err", err)
			case changed:
				a.Log.Info("KEKs reloaded", "provider", a.Config.KEK.Provider, "path", a.Config.KeyringPath, "active_version", a.reloader.CurrentVersion())
			}
		}
	}
}

// Stop lets running jobs finish (up to ctx's deadline) and stops the server's
// background work.
func (a *App) Stop(ctx context.Context) {
	if a.stopBackground != nil {
		a.stopBackground()
		a.background.Wait()
	}
	if err := a.Jobs.Stop(ctx); err != nil {
		a.Log.Warn("stopping job workers", "err", err)
	}
	a.mailSent.Close()
}

// JobWorkers is how many jobs (mostly emails) one instance runs at once.
// River fetches jobs for the free workers at most every FetchCooldown, so
// in a burst of notifications the workers bound how many each fetch takes:
// 8 sent 337-417 emails a second here and 16 sent 457-558 (32 no more).
// A worker waits on the network (the mail server, the database) far more
// than it computes, and shares the pool's few connections with the web.
const JobWorkers = 16

// contactLines formats contacts for plain-text and HTML email footers.
func contactLines(cs []config.Contact) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		v := c.Value
		if c.Kind == "fax" {
			v += " (fax)"
		}
		out = append(out, strings.TrimSpace(c.Label)+": "+v)
	}
	return out
}

// kekReloader is a KEK provider that can look again for versions another
// process made (a keyring file, an HSM token).
type kekReloader interface {
	Reload() (changed bool, err error)
	CurrentVersion() uint32
}

func reloaderOf(kek envelope.KEKProvider) kekReloader {
	r, _ := kek.(kekReloader)
	return r
}
