package glob

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/jackc/pgx/v5"
)

// databaseURL is the PostgreSQL server the tests use (as servertest.BaseDatabaseURL, which this
// package cannot import without building the whole server into its fuzz binary).
func databaseURL() string {
	if u := os.Getenv("BERTH_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// FuzzGlob checks the translation of user-supplied globs (the export's repositories, tags and
// cveIds filters). A glob Regex accepts always gives an anchored regular expression PostgreSQL
// compiles (an export never fails on its own filter), and PostgreSQL's match on any name is
// doublestar's (the export keeps what Harbor's matcher keeps); a glob doublestar cannot use is
// refused.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"**", "goharbor/core"}, {"goharbor/*", "goharbor/core/x"}, {"{goharbor/*,nginx}", "nginx"}, {"[!a]", "b"},
		{"a/**/c", "a/b/c"}, {"**/b/**", "x/b"}, {`a\*`, "a*"}, {"{CVE-2021-44228,CVE-2022-*}", "CVE-2022-1"},
		{"v1.*", "v1.0"}, {"[a-c]?", "b/"}, {"{a,{b,ab}}", "ab"}, {"a$", "a$"}, {"[]a]", "]"}, {"*/", "a/"}, {"{,a}", ""},
		{"[\\]]", "]"}, {"x{a,}", "x"}, {"**a", "ba"}, {"{**/a,b}", "x/a"}, {"[^/]", "/"}, {"a**/b", "ax/b"},
	} {
		f.Add(s[0], s[1])
	}
	var (
		once sync.Once
		conn *pgx.Conn
	)
	f.Cleanup(func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	})
	f.Fuzz(func(t *testing.T, glob, name string) {
		re, err := Regex(glob)
		if err != nil || glob == "" {
			if err == nil && re != "" {
				t.Fatalf("no glob gives %q", re)
			}
			return
		}
		if !strings.HasPrefix(re, "^") || !strings.HasSuffix(re, "$") {
			t.Fatalf("glob %q gives %q: not anchored", glob, re)
		}
		once.Do(func() {
			c, err := pgx.Connect(context.Background(), databaseURL())
			if err != nil {
				t.Fatalf("connect to PostgreSQL: %v", err)
			}
			conn = c
		})
		// Names are repository names, tags and CVE ids: never empty, valid UTF-8, no NUL.
		if name == "" || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
			name = "x"
		}
		var got bool
		if err := conn.QueryRow(context.Background(), "SELECT $1 ~ $2", name, re).Scan(&got); err != nil {
			t.Fatalf("glob %q as %q: PostgreSQL refuses it: %v", glob, re, err)
		}
		want, err := doublestar.Match(glob, name)
		if err != nil {
			t.Fatalf("Validate accepted %q, doublestar refuses it: %v", glob, err)
		}
		if got && !want && strings.HasSuffix(glob, "/**") {
			// doublestar's rule is that "p/**" also matches what p matches ("x/b/**" and "x/*b/**"
			// match "x/b"), but v4 misses it when p's last segment ends in a star that matches
			// nothing ("x/b*/**" on "x/b"). Berth keeps the rule; the quirk is not a disagreement.
			want, _ = doublestar.Match(strings.TrimSuffix(glob, "/**"), name)
		}
		if got != want {
			t.Fatalf("glob %q (regex %q) on %q: PostgreSQL %v, doublestar %v", glob, re, name, got, want)
		}
	})
}
