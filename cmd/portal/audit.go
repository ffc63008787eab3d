package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/healthnet/secureportal/internal/postgres"
)

const auditUsage = `Usage: portal audit verify

  Walks the hash-chained audit log and reports the first broken link.
  Exit status 0 when the chain holds, 1 when it is broken.`

// errAuditBroken makes `portal audit verify` exit 1 on a broken chain.
var errAuditBroken = errors.New("audit log chain is broken")

func cmdAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "verify" {
		return usageError{auditUsage}
	}
	_, _, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	checked, broken, err := postgres.VerifyAudit(ctx, pool)
	if err != nil {
		return err
	}
	if broken != nil {
		fmt.Fprintf(stdout, "BROKEN at audit event %d: %s (%d events before it verified)\n", broken.ID, broken.Reason, checked)
		return errAuditBroken
	}
	fmt.Fprintf(stdout, "ok: %d audit events verified, chain intact\n", checked)
	return nil
}
