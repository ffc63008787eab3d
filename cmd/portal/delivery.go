package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/healthnet/secureportal/internal/delivery"
)

const deliveryUsage = `Usage: portal delivery check DOMAIN

  Checks DOMAIN now, as the portal would before delivering (admin policy,
  MTA-STS, DANE, MX, STARTTLS, TLS version, certificate), prints each step and
  the verdict, and stores the outcome so the portal uses it at once. Lookups
  go to PORTAL_DNS_RESOLVER (the system's resolver when unset).`

func cmdDelivery(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		return usageError{deliveryUsage}
	}
	domain, err := delivery.NormalizeDomain(strings.TrimSpace(args[1]))
	if err != nil {
		return usageError{fmt.Sprintf("portal delivery check: %q is not a domain name\n\n%s", args[1], deliveryUsage)}
	}
	app, err := openApp(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer app.Pool.Close()
	d, err := app.Delivery.Recheck(ctx, domain)
	if err != nil {
		return err
	}
	printDecision(stdout, d, app.Config.Delivery.TLSFirst())
	return nil
}

// printDecision writes what /tls-check shows, for a terminal.
func printDecision(w io.Writer, d delivery.Decision, tlsFirst bool) {
	fmt.Fprintf(w, "%s: %s\n", d.Domain, verdict(d, tlsFirst))
	fmt.Fprintf(w, "  why:    %s\n", d.Reason)
	if d.Advice != "" {
		fmt.Fprintf(w, "  change: %s\n", d.Advice)
	}
	for _, s := range d.Steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  [%s] %-12s %s\n", mark, s.Name, s.Detail)
	}
}

func verdict(d delivery.Decision, tlsFirst bool) string {
	switch {
	case d.Method == delivery.MethodTLS && tlsFirst:
		return "TLS: messages go straight to its mail server"
	case d.Method == delivery.MethodTLS:
		return "ready for TLS delivery (PORTAL_DELIVERY_MODE is portal-only, so messages wait in the portal)"
	case !d.NotifyAllowed:
		return "portal, without notification (policy tls-required)"
	}
	return "portal: messages wait in the portal with an email notification"
}
