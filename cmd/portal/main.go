// Command portal runs the secure messaging portal and its operator commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // PORTAL_TIMEZONE works on images without a zoneinfo database
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	var usage usageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "portal:", err)
		os.Exit(1)
	}
}

// usageError marks a mistake in how the command was called (exit status 2),
// as opposed to a failure while doing the work (exit status 1).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `Usage: portal <command> [flags]

Commands:
  serve     apply database migrations, then serve the portal (PORTAL_* variables)
  dev       like serve, plus a local mail catcher and readable logs (for make run)
  migrate   apply database migrations and exit
  keys      manage encryption keys: portal keys init|rotate|rewrap|status|retire V
  audit     verify the audit log's hash chain: portal audit verify
  blobs     move attachments from PostgreSQL to the bucket: portal blobs migrate [--to s3://...]
  user      create an account: portal user create --email E --name N --role staff|admin|provider [--password-stdin]
            send a password reset link (ends every session): portal user reset --email E
            remove the authenticator app (a lost phone): portal user reset-mfa --email E
  delivery  check how mail to a domain would be delivered: portal delivery check DOMAIN
  version   print the version
  help      print this help

Configuration comes from the environment; see README.md.`

// run is the whole program with its inputs passed in, so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{usage}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, getenv, stdout, stderr)
	case "dev":
		return cmdDev(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, getenv, stderr)
	case "keys":
		return cmdKeys(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, rest, getenv, stdout, stderr)
	case "blobs":
		return cmdBlobs(ctx, rest, getenv, stdout, stderr)
	case "user":
		return cmdUser(ctx, rest, getenv, stdinOf(), stdout, stderr)
	case "delivery":
		return cmdDelivery(ctx, rest, getenv, stdout, stderr)
	case "version":
		if len(rest) > 0 {
			return usageError{"portal version takes no arguments\n\n" + usage}
		}
		fmt.Fprintln(stdout, "portal", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("portal: unknown command %q\n\n%s", cmd, usage)}
}
