package app

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/inbound"
	"github.com/healthnet/secureportal/internal/jobs"
	"github.com/healthnet/secureportal/internal/postgres"
)

// deliverySettings carries the configuration into the delivery package,
// which never reads the environment itself.
func deliverySettings(d config.Delivery) delivery.Settings {
	return delivery.Settings{
		Resolver:   d.Resolver,
		SMTPPort:   d.SMTPPort,
		CAFile:     d.CAFile,
		MTASTSPort: d.MTASTSPort,
		HELO:       d.HELO,
		SuccessTTL: d.CheckTTL,
		FailureTTL: d.FailureTTL,
	}
}

// newRouter builds the per-domain decision (admin policy, MTA-STS, DANE,
// probe) over the shared PostgreSQL cache. It exists in every mode: the
// public TLS check and the admins' domains page use it even when messages
// all wait in the portal.
func newRouter(cfg *config.Config, store *postgres.DeliveryStore, log *slog.Logger) (*delivery.Router, error) {
	checker, err := delivery.NewChecker(deliverySettings(cfg.Delivery), store, log)
	if err != nil {
		return nil, fmt.Errorf("portal: delivery checks: %w", err)
	}
	return delivery.NewRouter(checker, store, store, log), nil
}

// deliveryAdmin is the web layer's view of delivery: the router's
// decisions and the store's policies.
type deliveryAdmin struct {
	*delivery.Router
	*postgres.DeliveryStore
}

// newTLSDelivery is what the delivery job needs to send straight to
// providers' servers; nil in portal-only mode.
func newTLSDelivery(cfg *config.Config, router *delivery.Router, messages *postgres.MessagingStore, replies jobs.ReplyTokens, log *slog.Logger) (*jobs.TLSDelivery, error) {
	if !cfg.Delivery.TLSFirst() {
		return nil, nil
	}
	transport, err := delivery.NewTransport(deliverySettings(cfg.Delivery), log)
	if err != nil {
		return nil, fmt.Errorf("portal: delivery transport: %w", err)
	}
	return &jobs.TLSDelivery{Router: router, Transport: transport, Content: messages, Replies: replies,
		From: cfg.MailFrom, ReplyDomain: cfg.Delivery.ReplyDomain, FallbackAfter: cfg.Delivery.FallbackAfter}, nil
}

// Inbound builds the SMTP listener that takes providers' emailed replies
// (PORTAL_SMTP_INBOUND_ADDR): STARTTLS with the configured certificate,
// replies stored through the same messaging service as a web reply, with the
// web's upload limits.
func (a *App) Inbound() (*inbound.Server, error) {
	d := a.Config.Delivery
	cert, err := tls.LoadX509KeyPair(d.InboundCert, d.InboundKey)
	if err != nil {
		return nil, fmt.Errorf("portal: inbound SMTP certificate: %w", err)
	}
	return inbound.New(inbound.Settings{
		Domain:          d.ReplyDomain,
		Hostname:        d.HELO,
		TLS:             &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		MaxMessageBytes: a.Config.Uploads.MaxMessageBytes + 4<<20, // encoding overhead and the text
		MaxFiles:        a.Config.Uploads.MaxFiles,
		MaxFileBytes:    a.Config.Uploads.MaxFileBytes,
		Resolver:        d.Resolver,
		SpoolDir:        a.Config.Uploads.SpoolDir,
	}, a.ReplyTokens, a.Messages, a.Log.With("component", "inbound")), nil
}
