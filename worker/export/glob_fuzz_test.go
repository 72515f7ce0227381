package export_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/export"
)

// FuzzGlob checks the translation of user-supplied globs (repositories, tags, cveIds) into
// PostgreSQL regular expressions. A glob Validate accepts always gives a regular expression
// PostgreSQL compiles (an export never fails on its own filter), PostgreSQL's match on any name
// is doublestar's (the export keeps what Harbor's matcher keeps), a glob Validate refuses names
// the field, and the Params survive a JSON round trip into the same query.
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
		p := export.Params{Projects: []int{1}, Repositories: glob, Tags: glob, CVEIDs: glob}
		if err := p.Validate(); err != nil {
			if fe, ok := err.(*export.FieldError); !ok || fe.Field != "repositories" {
				t.Fatalf("Validate(%q) = %v; want a FieldError naming repositories", glob, err)
			}
			return
		}
		b, _ := json.Marshal(p)
		var back export.Params
		if err := json.Unmarshal(b, &back); err != nil || back.Validate() != nil {
			t.Fatalf("params %s do not survive JSON: %v", b, err)
		}
		q1, args1 := p.Query()
		q2, args2 := back.Query()
		if q1 != q2 || len(args1) != len(args2) {
			t.Fatalf("the query changed through JSON")
		}
		if glob == "" {
			return
		}
		_, args := export.Params{Projects: []int{1}, Repositories: glob}.Query()
		re := args[1].(string)
		if !strings.HasPrefix(re, "^") || !strings.HasSuffix(re, "$") {
			t.Fatalf("glob %q gives %q: not anchored", glob, re)
		}
		once.Do(func() {
			c, err := pgx.Connect(context.Background(), servertest.BaseDatabaseURL())
			if err != nil {
				t.Fatalf("connect to PostgreSQL: %v", err)
			}
			conn = c
		})
		if !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
			name = ""
		}
		var got bool
		if err := conn.QueryRow(context.Background(), "SELECT $1 ~ $2", name, re).Scan(&got); err != nil {
			t.Fatalf("glob %q as %q: PostgreSQL refuses it: %v", glob, re, err)
		}
		want, err := doublestar.Match(glob, name)
		if err != nil {
			t.Fatalf("Validate accepted %q, doublestar refuses it: %v", glob, err)
		}
		if got != want {
			t.Fatalf("glob %q (regex %q) on %q: PostgreSQL %v, doublestar %v", glob, re, name, got, want)
		}
	})
}
