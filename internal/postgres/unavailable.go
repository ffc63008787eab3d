package postgres

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// unavailableError marks a failure that is the database being out of reach
// (down, restarting, refusing or dropping connections), not a fault of the
// request. The web layer answers it with 503 and Retry-After instead of a
// 500, through its own small interface (Unavailable() bool), so it never
// needs to know pgx.
type unavailableError struct{ error }

func (e unavailableError) Unwrap() error     { return e.error }
func (e unavailableError) Unavailable() bool { return true }

// markUnavailable wraps err when it says the database (or the object
// storage of attachments) cannot be reached.
func markUnavailable(err error) error {
	if err == nil || !databaseUnavailable(err) {
		return err
	}
	return unavailableError{err}
}

func databaseUnavailable(err error) bool {
	if errors.Is(err, ErrBlobsUnavailable) {
		return true // the bucket, like the database, is out of reach: try again
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exceptions; 57P01-57P03: admin shutdown,
		// crash shutdown, cannot connect now (starting up).
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return errors.Is(err, puddle.ErrClosedPool) || errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || pgconn.Timeout(err)
}
