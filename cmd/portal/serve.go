package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/postgres"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// noFlags parses a subcommand's (absent) flags so that `portal serve --oops`
// prints usage and exits 2 instead of being ignored.
func noFlags(name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("portal "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the usage error below says it once
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Sprintf("portal %s: %v\n\n%s", name, err, usage)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("portal %s: unexpected argument %q\n\n%s", name, fs.Arg(0), usage)}
	}
	return nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config.Load
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// setup loads configuration, connects to the database and migrates it: the
// common start of every command that needs the database. It also reports how
// much power the serving role has over the schema.
func setup(ctx context.Context, getenv func(string) string, stderr io.Writer) (*config.Config, *slog.Logger, *pgxpool.Pool, postgres.RolePrivilege, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	log := newLogger(cfg, stderr)
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	privilege, err := migrate(ctx, cfg, pool, log)
	if err != nil {
		pool.Close()
		return nil, nil, nil, 0, err
	}
	return cfg, log, pool, privilege, nil
}

// migrate brings the schema up to date. With PORTAL_MIGRATE_DATABASE_URL the
// owner role migrates and then grants the serving role (pool's) only what
// serving needs; without it the serving role migrates, owns the tables, and
// is warned about.
func migrate(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger) (postgres.RolePrivilege, error) {
	migrator := pool
	if cfg.MigrateDatabaseURL != "" {
		owner, err := postgres.Open(ctx, cfg.MigrateDatabaseURL)
		if err != nil {
			return 0, fmt.Errorf("PORTAL_MIGRATE_DATABASE_URL: %w", err)
		}
		defer owner.Close()
		migrator = owner
	}
	if err := postgres.Migrate(ctx, migrator, log); err != nil {
		return 0, err
	}
	// Granting changes neither ownership nor superuser status: one answer
	// serves before and after.
	role, privilege, err := postgres.PrivilegeOf(ctx, pool)
	if err != nil {
		return 0, err
	}
	if migrator != pool {
		if err := grantFromOwner(ctx, migrator, role, log); err != nil {
			return 0, err
		}
	}
	switch privilege {
	case postgres.RoleSuperuser:
		log.Warn("the portal's database role is a superuser and could rewrite the audit log: serve as a restricted role (README: Least privilege)", "role", role)
	case postgres.RoleOwner:
		log.Warn("the portal's database role owns the tables and could disable the audit log's append-only trigger: set PORTAL_MIGRATE_DATABASE_URL (README: Least privilege)", "role", role)
	}
	return privilege, nil
}

// grantFromOwner grants the serving role its privileges, unless both URLs
// name the same role.
func grantFromOwner(ctx context.Context, owner *pgxpool.Pool, role string, log *slog.Logger) error {
	ownerRole, _, err := postgres.PrivilegeOf(ctx, owner)
	if err != nil {
		return err
	}
	if role == ownerRole {
		return nil
	}
	if err := postgres.GrantAppRole(ctx, owner, role); err != nil {
		return err
	}
	log.Info("database privileges granted", "role", role, "owner", ownerRole)
	return nil
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if err := noFlags("migrate", args, stderr); err != nil {
		return err
	}
	_, log, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	pool.Close()
	log.Info("database is up to date")
	return nil
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if err := noFlags("serve", args, stderr); err != nil {
		return err
	}
	return serve(ctx, getenv, stderr, nil)
}

// serve runs the portal until ctx is cancelled. ready, when not nil, is called
// once the listeners accept connections (cfg.Addr then holds the bound address).
func serve(ctx context.Context, getenv func(string) string, stderr io.Writer, ready func(cfg *config.Config, app *app.App)) error {
	app, err := openApp(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer app.Pool.Close()
	cfg, log := app.Config, app.Log
	if err := app.Start(ctx); err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		app.Stop(stopCtx)
	}()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on PORTAL_ADDR %s: %w", cfg.Addr, err)
	}
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on PORTAL_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		msrv := &http.Server{Handler: app.Metrics.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go msrv.Serve(mln)
		defer msrv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String())
	} else {
		log.Info("metrics listener off: set PORTAL_METRICS_ADDR (for example 127.0.0.1:9090) to serve it")
	}
	if cfg.Delivery.InboundAddr != "" {
		stop, err := serveInbound(ctx, app)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	cfg.Addr = ln.Addr().String()
	log.Info("portal listening", "addr", cfg.Addr, "base_url", cfg.BaseURL.String(), "tls", cfg.ServesTLS(), "version", version())
	if ready != nil {
		ready(cfg, app)
	}
	err = app.Web.Serve(ctx, ln)
	if err == nil || errors.Is(err, context.Canceled) {
		log.Info("portal stopped")
		return nil
	}
	return err
}

// serveInbound starts the SMTP listener for emailed replies; stop ends it
// and waits for it.
func serveInbound(ctx context.Context, app *app.App) (stop func(), err error) {
	srv, err := app.Inbound()
	if err != nil {
		return nil, err
	}
	iln, err := net.Listen("tcp", app.Config.Delivery.InboundAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on PORTAL_SMTP_INBOUND_ADDR %s: %w", app.Config.Delivery.InboundAddr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, iln); err != nil && ctx.Err() == nil {
			app.Log.Error("inbound SMTP listener stopped", "err", err)
		}
	}()
	app.Log.Info("inbound SMTP listening for replies", "addr", iln.Addr().String(), "reply_domain", app.Config.Delivery.ReplyDomain)
	return func() { cancel(); <-done }, nil
}

// openApp loads the configuration, migrates the database, checks the
// KEKs against it and assembles the portal. The caller closes app.Pool.
func openApp(ctx context.Context, getenv func(string) string, stderr io.Writer) (*app.App, error) {
	cfg, log, pool, privilege, err := setup(ctx, getenv, stderr)
	if err != nil {
		return nil, err
	}
	keks, err := openKEKs(ctx, cfg, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	app, err := app.New(cfg, log, pool, keks.provider, app.Options{RestrictedRole: privilege == postgres.RoleRestricted})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return app, nil
}
