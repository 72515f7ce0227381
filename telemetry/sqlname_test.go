package telemetry

import "testing"

func TestSQLName(t *testing.T) {
	t.Parallel()
	for stmt, want := range map[string]string{
		"SELECT 1":                      "SELECT",
		"\n  insert into t values ($1)": "INSERT",
		"-- name: JobGetAvailable :many\nWITH locked AS (": "JobGetAvailable",
		"-- a comment\n-- another\nupdate t set x = 1":     "UPDATE",
		"begin":             "BEGIN",
		"   ":               "SQL",
		"-- only a comment": "SQL",
	} {
		if got := sqlName(stmt); got != want {
			t.Errorf("sqlName(%q) = %q, want %q", stmt, got, want)
		}
	}
}
