package migrations

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
)

// MinServerVersion is the oldest PostgreSQL Berth runs on, as server_version_num (major × 10000).
//
// Berth's own SQL needs 10 (identity columns, partial indexes, ON CONFLICT, SKIP LOCKED); River's
// schema needs 12 (stored generated columns, ALTER TYPE … ADD VALUE inside a transaction). The
// floor is 14 rather than 12 because 12 and 13 are past the PostgreSQL project's end of life
// (13 in November 2025), and pgx and River support only maintained releases: an older server
// may start today and break on the next River migration. docs/operations.md says the same.
const MinServerVersion = 140000

// CheckServerVersion returns an error naming the version found and the one required when
// serverVersionNum (PostgreSQL's server_version_num) is older than MinServerVersion; version is
// the server's own display form (server_version), for the message.
func CheckServerVersion(serverVersionNum int, version string) error {
	if serverVersionNum >= MinServerVersion {
		return nil
	}
	if version == "" {
		version = strconv.Itoa(serverVersionNum)
	}
	return fmt.Errorf("PostgreSQL %s is too old: Berth needs PostgreSQL %d or newer; upgrade the database server",
		version, MinServerVersion/10000)
}

// checkServer refuses a server older than MinServerVersion, before anything is written to it.
func checkServer(ctx context.Context, pool *pgxpool.Pool) error {
	var num, version string
	if err := pool.QueryRow(ctx, "SELECT current_setting('server_version_num'), current_setting('server_version')").Scan(&num, &version); err != nil {
		return fmt.Errorf("migrate: read server version: %w", err)
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return fmt.Errorf("migrate: server_version_num %q is not a number", num)
	}
	return CheckServerVersion(n, version)
}
