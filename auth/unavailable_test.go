package auth_test

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/berth-registry/berth/auth"
)

func TestUnavailable(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"another service refusing", fmt.Errorf("scanner adapter: %w", refused), false},
		{"another service's EOF", fmt.Errorf("webhook: %w", io.ErrUnexpectedEOF), false},
		{"bad driver connection", driver.ErrBadConn, true},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"server starting", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"already wrapped", fmt.Errorf("x: %w", auth.ErrUnavailable), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"bad credentials", auth.ErrBadCredentials, false},
		{"invalid token", auth.ErrInvalidToken, false},
		{"nil", nil, false},
	} {
		if got := auth.IsUnavailable(tc.err); got != tc.want {
			t.Errorf("%s: IsUnavailable = %v, want %v", tc.name, got, tc.want)
		}
		wrapped := auth.Unavailable(tc.err)
		if got := errors.Is(wrapped, auth.ErrUnavailable); got != tc.want {
			t.Errorf("%s: Unavailable(err) is ErrUnavailable = %v, want %v", tc.name, got, tc.want)
		}
		if tc.err != nil && !errors.Is(wrapped, tc.err) {
			t.Errorf("%s: Unavailable(err) lost the cause", tc.name)
		}
	}
}
