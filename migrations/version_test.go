package migrations_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/migrations"
	"github.com/berth-registry/berth/server/servertest"
)

func TestCheckServerVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		num     int
		version string
		wantErr string // "" for none
	}{
		{90624, "9.6.24", "PostgreSQL 9.6.24 is too old: Berth needs PostgreSQL 14 or newer"},
		{100023, "10.23", "PostgreSQL 10.23 is too old: Berth needs PostgreSQL 14 or newer"},
		{130022, "13.22 (Debian 13.22-1)", "PostgreSQL 13.22 (Debian 13.22-1) is too old"},
		{130022, "", "PostgreSQL 130022 is too old"},
		{140000, "14.0", ""},
		{150020, "15.20", ""},
		{180001, "18.1", ""},
	} {
		err := migrations.CheckServerVersion(tc.num, tc.version)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%d: %v, want no error", tc.num, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%d: %v, want an error containing %q", tc.num, err, tc.wantErr)
		}
	}
}

// The real server the tests run on is new enough, and Apply checks it before migrating.
func TestApplyAcceptsTheServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, servertest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrations.Apply(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("apply on the test server: %v", err)
	}
}
