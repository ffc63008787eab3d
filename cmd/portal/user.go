package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/accounts"
)

const userUsage = `Usage: portal user create --email E --name N --role staff|admin|provider [--password-stdin]
       portal user reset --email E
       portal user reset-mfa --email E

  With --password-stdin the account is active at once (the password is read
  from the first line of standard input, never from a flag, so it stays out of
  shell history and process listings). Without it the account is pending and a
  registration link is emailed by the running portal's job workers.

  reset is the command-line twin of the console's "send a password-reset
  link", for an admin locked out of the console: it unlocks the account, ends
  its sessions and emails a reset link (a pending account gets a fresh
  registration link).

  reset-mfa removes the account's authenticator app and recovery codes (a
  lost phone) and ends its sessions; where a second factor is required, the
  user sets up a new app at their next sign-in. It is for the last admin, who
  cannot reach the console that would do it; an email tells the user.`

func cmdUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "reset" {
		return cmdUserReset(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "reset-mfa" {
		return cmdUserResetMFA(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "create" {
		return usageError{userUsage}
	}
	fs := flag.NewFlagSet("portal user create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("email", "", "email address (the username)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", "", "staff, admin or provider")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{fmt.Sprintf("portal user create: %v\n\n%s", err, userUsage)}
	}
	if fs.NArg() > 0 || *email == "" || *role == "" {
		return usageError{"portal user create: --email and --role are required\n\n" + userUsage}
	}
	r, err := accounts.ParseRole(*role)
	if err != nil {
		return usageError{fmt.Sprintf("portal user create: --role %q: use staff, admin or provider\n\n%s", *role, userUsage)}
	}
	var pw string
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password from standard input: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return errors.New("no password on standard input")
		}
	}

	app, err := openApp(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer app.Pool.Close()
	u, err := app.Accounts.CreateUser(ctx, *email, *name, r, pw, 0, "")
	var fe accounts.FieldErrors
	switch {
	case errors.As(err, &fe):
		for field, msg := range fe {
			fmt.Fprintf(stderr, "--%s: %s\n", strings.TrimSuffix(field, "_confirm"), msg)
		}
		return errors.New("user not created")
	case err != nil:
		return err
	}
	if pw != "" {
		fmt.Fprintf(stdout, "created active %s account %s (id %d)\n", u.Role, u.Email, u.ID)
	} else {
		fmt.Fprintf(stdout, "created pending %s account %s (id %d); the running portal emails the registration link\n", u.Role, u.Email, u.ID)
	}
	return nil
}

func cmdUserReset(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return forAccount(ctx, "reset", args, getenv, stderr, func(a *app.App, email string) error {
		u, err := a.Accounts.ResetByEmail(ctx, email)
		if errors.Is(err, accounts.ErrActionNotApplicable) {
			return fmt.Errorf("account %s is disabled; enable it first", email)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %s (%s): signed out everywhere; the running portal emails the link\n", u.Email, u.Status)
		return nil
	})
}

func cmdUserResetMFA(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return forAccount(ctx, "reset-mfa", args, getenv, stderr, func(a *app.App, email string) error {
		u, err := a.Accounts.ResetSecondFactorByEmail(ctx, email)
		if errors.Is(err, accounts.ErrActionNotApplicable) {
			return fmt.Errorf("account %s has no authenticator app to reset", email)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %s: authenticator app and recovery codes removed, signed out everywhere; the running portal emails the user\n", u.Email)
		return nil
	})
}

// forAccount runs `portal user NAME --email E`: it opens the portal's
// database and runs do for E, saying so plainly when there is no such
// account.
func forAccount(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, do func(a *app.App, email string) error) error {
	fs := flag.NewFlagSet("portal user "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("email", "", "email address of the account")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *email == "" {
		return usageError{"portal user " + name + ": --email is required\n\n" + userUsage}
	}
	a, err := openApp(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.Pool.Close()
	err = do(a, *email)
	if errors.Is(err, accounts.ErrNotFound) {
		return fmt.Errorf("no account with email %s", *email)
	}
	return err
}

// stdinOf lets tests give run a standard input; main uses os.Stdin.
var stdinOf = func() io.Reader { return os.Stdin }
