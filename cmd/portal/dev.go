package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/mailcatcher"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
	"github.com/healthnet/secureportal/internal/practices"
)

// devDefaults is the demo configuration of `make run`: the health plan's real
// public contacts (from its provider bulletin), readable logs, mail sent to
// the local catcher, and TLS-first delivery inside the local mail world of
// devmail.go. Any variable set in the environment wins.
var devDefaults = map[string]string{
	"PORTAL_ADDR":         "127.0.0.1:8080",
	"PORTAL_BASE_URL":     "http://localhost:8080",
	"PORTAL_METRICS_ADDR": "127.0.0.1:9090",
	"PORTAL_LOG_FORMAT":   "text",
	"PORTAL_KEYRING":      ".dev/portal.keyring",
	"PORTAL_MAIL_FROM":    "Health Net Secure Messaging <secure-messaging@localhost>",
	"PORTAL_ORG_NAME":     "Health Net",
	"PORTAL_TIMEZONE":     "America/Los_Angeles",
	"PORTAL_ORG_CONTACTS": "Provider Services – Los Angeles County=tel:1-855-464-3571;" +
		"Provider Services – San Diego County=tel:1-855-464-3572;" +
		"Provider Services email=mailto:provider_services@healthnet.com;" +
		"Provider Communications=fax:1-800-937-6086",
	"PORTAL_DELIVERY_MODE":      "tls-first",
	"PORTAL_DNS_RESOLVER":       devDNSAddr,
	"PORTAL_DELIVERY_SMTP_PORT": devMXPort,
	"PORTAL_DELIVERY_CA_FILE":   devDir + "/" + devCAName + ".pem",
	"PORTAL_DELIVERY_HELO":      "localhost",
	"PORTAL_REPLY_DOMAIN":       devReplyDomain,
	"PORTAL_SMTP_INBOUND_ADDR":  devInboundAddr,
	"PORTAL_SMTP_INBOUND_CERT":  devDir + "/" + devInboundName + ".pem",
	"PORTAL_SMTP_INBOUND_KEY":   devDir + "/" + devInboundName + ".key",
}

const (
	devSMTPAddr = "127.0.0.1:1025"
	devMailAddr = "127.0.0.1:8025"
)

func cmdDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if err := noFlags("dev", args, stderr); err != nil {
		return err
	}
	if url := getenv("PORTAL_DATABASE_URL"); url != "" {
		created, err := postgres.CreateDatabaseIfMissing(ctx, url)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintln(stderr, "created the development database")
		}
	}
	mxCert, err := devCertificates(devDir)
	if err != nil {
		return err
	}
	catcher, err := mailcatcher.StartWithOptions(devSMTPAddr, mailcatcher.Options{
		Logger: slog.New(slog.NewTextHandler(stderr, nil)).With("component", "mailcatcher"),
	})
	if err != nil {
		return fmt.Errorf("start mail catcher on %s: %w", devSMTPAddr, err)
	}
	defer catcher.Close()
	mln, err := net.Listen("tcp", devMailAddr)
	if err != nil {
		return fmt.Errorf("mail catcher web page on %s: %w", devMailAddr, err)
	}
	web := &http.Server{Handler: catcher.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go web.Serve(mln)
	defer web.Close()

	devGetenv := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		if k == "PORTAL_SMTP_URL" && getenv("PORTAL_SMTP_URL_FILE") == "" {
			return "smtp://" + catcher.Addr() + "?tls=none"
		}
		return devDefaults[k]
	}
	dns, err := startDevDNS(devDNSAddr, devGetenv("PORTAL_REPLY_DOMAIN"))
	if err != nil {
		return err
	}
	defer dns.Close()
	_, hostsErr := startDevMailHosts(catcher, devGetenv("PORTAL_DELIVERY_SMTP_PORT"), mxCert)
	if hostsErr != nil {
		fmt.Fprintf(stderr, "warning: %v\n  (on macOS, first: sudo ifconfig lo0 alias %s up; sudo ifconfig lo0 alias %s up)\n",
			hostsErr, devPlainHost.ip, devTLSHost.ip)
	}
	if err := ensureDevKeyring(devGetenv("PORTAL_KEYRING")); err != nil {
		return err
	}
	return serve(ctx, devGetenv, stderr, func(cfg *config.Config, app *app.App) {
		if err := seedDemo(ctx, app); err != nil {
			fmt.Fprintln(stderr, "demo accounts:", err)
		}
		fmt.Fprintf(stdout, `
  ┌──────────────────────────────────────────────────────────────┐
    %s Secure Messaging is running (development mode)

    Portal:        %s
    Mail catcher:  http://%s   (every email, TLS-delivered or not)
    Metrics:       http://%s/metrics

    Demo accounts (password for all: %s)
      admin     %s
      staff     %s (Los Angeles team), %s (San Diego team)
      provider  %s (has a message waiting; a member of the practice below)
                %s (its mail server takes TLS)
                %s (the shared address of the practice
                Lopez Family Medicine: its message is in Dr. Lopez's inbox too)
    Staff and admins set up an authenticator app at their first sign-in:
    any phone app, or `+"`oathtool --totp -b KEY`"+` with the key the page
    shows (PORTAL_MFA_STAFF=optional make run skips that step).

%s
    Or make a provider account waiting for registration, from another
    terminal:
      PORTAL_DATABASE_URL='%s' PORTAL_KEYRING=%s \
        .dev/portal user create --email you@clinic.example --role provider

    Press Ctrl-C to stop. Data stays in the database for next time.
  └──────────────────────────────────────────────────────────────┘

`, cfg.Org.Name, cfg.BaseURL, mln.Addr(), cfg.MetricsAddr, demoPassword, demoUsers[0].email, demoUsers[1].email, demoUsers[2].email, demoUsers[3].email, demoUsers[4].email,
			demoUsers[5].email, devBannerDelivery(cfg.Delivery.TLSFirst(), cfg.Delivery.InboundAddr, cfg.Delivery.ReplyDomain, hostsErr),
			cfg.DatabaseURL, cfg.KeyringPath)
	})
}

// demoPassword is the password of the demo accounts of `make run` only.
const demoPassword = "orange kayak quietly drifts north"

var demoUsers = []struct {
	email, name string
	role        accounts.Role
	team        string
}{
	{"admin@healthnet.example", "Avery Admin", accounts.RoleAdmin, ""},
	{"rep.la@healthnet.example", "Lena Ortiz", accounts.RoleStaff, "Provider Services – Los Angeles County"},
	{"rep.sd@healthnet.example", "Sam Duarte", accounts.RoleStaff, "Provider Services – San Diego County"},
	{"dr.lopez@clinic.example", "Dr. Maria Lopez", accounts.RoleProvider, ""},
	{"dr.chen@tls-clinic.example", "Dr. Wei Chen", accounts.RoleProvider, ""},
	// The practice's shared address; Dr. Lopez is a member (seedPractice).
	{"frontdesk@clinic.example", "Lopez Family Medicine front desk", accounts.RoleProvider, ""},
}

// seedDemo creates the demo teams, accounts and a first thread once; later
// runs find them and keep whatever changed since (a demo account added
// later is created then, without a second thread).
func seedDemo(ctx context.Context, app *app.App) error {
	ids := map[string]int64{}
	created := map[string]bool{}
	for _, d := range demoUsers {
		u, err := app.Accounts.CreateUser(ctx, d.email, d.name, d.role, demoPassword, 0, "")
		switch {
		case errors.Is(err, accounts.ErrEmailTaken):
			if u, err = app.Accounts.UserByEmail(ctx, d.email); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("create %s: %w", d.email, err)
		default:
			created[d.email] = true
		}
		ids[d.email] = u.ID
		if d.team != "" {
			team, err := postgres.EnsureTeam(ctx, app.Pool, d.team, "Cal MediConnect")
			if err != nil {
				return err
			}
			if err := postgres.AddTeamMember(ctx, app.Pool, team, u.ID); err != nil {
				return err
			}
		}
	}
	rep := messaging.Viewer{UserID: ids["rep.la@healthnet.example"], Staff: true}
	if created["dr.lopez@clinic.example"] {
		files := &demoFiles{name: "authorization-summary.txt",
			body: "Demo attachment: prior authorization summary for member 000-DEMO.\nNo real patient data.\n"}
		if _, err := app.Messages.StartToProvider(ctx, rep, "dr.lopez@clinic.example", "Prior authorization for member 000-DEMO",
			"Dr. Lopez,\n\nThe prior authorization you asked about is approved; the summary is attached.\n\nLena Ortiz\nProvider Services – Los Angeles County", 0, files); err != nil {
			return err
		}
	}
	if created["frontdesk@clinic.example"] {
		return seedPractice(ctx, app, rep)
	}
	return nil
}

// seedPractice starts the demo practice from the front desk's account,
// with Dr. Lopez as a member, and sends the front desk a first message:
// signed in as Dr. Lopez, it is in her inbox as practice mail.
func seedPractice(ctx context.Context, app *app.App, rep messaging.Viewer) error {
	desk, err := app.Accounts.UserByEmail(ctx, "frontdesk@clinic.example")
	if err != nil {
		return err
	}
	lopez, err := app.Accounts.UserByEmail(ctx, "dr.lopez@clinic.example")
	if err != nil {
		return err
	}
	if _, err := app.Practices.Start(ctx, desk, practices.Practice{Name: "Lopez Family Medicine", NPI: "1234567893", County: "Los Angeles",
		LineOfBusiness: "Cal MediConnect"}, "127.0.0.1"); err != nil {
		return fmt.Errorf("demo practice: %w", err)
	}
	if err := app.Practices.Invite(ctx, desk, lopez.Email, "127.0.0.1"); err != nil {
		return fmt.Errorf("demo practice invitation: %w", err)
	}
	invites, err := app.Practices.InvitesFor(ctx, lopez)
	if err != nil || len(invites) == 0 {
		return fmt.Errorf("demo practice invitation: %v", err)
	}
	if err := app.Practices.Accept(ctx, lopez, invites[0].ID, "127.0.0.1"); err != nil {
		return fmt.Errorf("demo practice membership: %w", err)
	}
	_, err = app.Messages.StartToProvider(ctx, rep, desk.Email, "Eligibility check for member 000-DEMO-2",
		"Front desk,\n\nThe member's eligibility is confirmed through the end of the year.\n\nLena Ortiz\nProvider Services – Los Angeles County", 0, nil)
	return err
}

// demoFiles is a one-file messaging.Uploads for the demo thread.
type demoFiles struct {
	name, body string
	done       bool
}

func (f *demoFiles) Next() (messaging.Upload, error) {
	if f.done {
		return messaging.Upload{}, io.EOF
	}
	f.done = true
	return messaging.Upload{Name: f.name, Body: strings.NewReader(f.body)}, nil
}
