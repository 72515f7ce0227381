package auth

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable says that credentials or permissions could not be checked because the database
// could not be reached: not that they are wrong. Every surface answers it with 503 and a
// Retry-After, never with 401, and never records it as a failed login. Its message is the one
// clients see; the cause it wraps (driver text, addresses) is for the log only.
var ErrUnavailable = errors.New("the registry's database is unavailable; retry shortly")

// RetryAfter is the Retry-After value, in seconds, of every answer to ErrUnavailable.
const RetryAfter = "5"

// Unavailable returns err wrapped in ErrUnavailable when it says the database could not be reached
// (a refused or dropped connection, a server shutting down or out of connections), and err
// unchanged otherwise, so callers can tell "wrong" from "could not check".
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !dbUnreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// IsUnavailable reports whether err is, or says, that the database could not be reached.
func IsUnavailable(err error) bool {
	return err != nil && (errors.Is(err, ErrUnavailable) || dbUnreachable(err))
}

// dbUnreachable is the one rule for "the database could not be reached", over pgx's errors (pool
// and database/sql adapter alike). A network error counts only inside pgx's own errors: a scanner
// or webhook endpoint that cannot be reached is not a database outage.
func dbUnreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	var fromPgconn interface{ SafeToRetry() bool } // implemented by pgconn's own error types only
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01–57P03: the server is shutting down or starting;
		// 53300: too many connections.
		code := pgErr.Code
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
	case errors.As(err, &fromPgconn):
		// A connection that broke under a query (read or write failed, closed, timed out).
		return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			pgconn.Timeout(err) || strings.Contains(err.Error(), "conn closed")
	}
	return false
}
