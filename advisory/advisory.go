// Package advisory owns Berth's local vulnerability database: OSV records imported from a
// directory of OSV JSON files or osv.dev's per-ecosystem all.zip into PostgreSQL, indexed by
// (ecosystem, package), and the matching of installed OS packages against them with each
// ecosystem's own version ordering. It reads and writes only the advisories and
// advisory_packages tables; scan reports belong to worker/scan.
package advisory

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store reads and writes the advisory tables.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns the advisory store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// record is the part of an OSV record (schema 1.x) the scanner uses.
type record struct {
	ID        string    `json:"id"`
	Modified  time.Time `json:"modified"`
	Withdrawn string    `json:"withdrawn"`
	Aliases   []string  `json:"aliases"`
	Upstream  []string  `json:"upstream"`
	Summary   string    `json:"summary"`
	Details   string    `json:"details"`
	Severity  []struct {
		Type  string `json:"type"`
		Score string `json:"score"`
	} `json:"severity"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges            []osvRange     `json:"ranges"`
		Versions          []string       `json:"versions"`
		EcosystemSpecific map[string]any `json:"ecosystem_specific"`
		DatabaseSpecific  map[string]any `json:"database_specific"`
	} `json:"affected"`
	References []struct {
		URL string `json:"url"`
	} `json:"references"`
	DatabaseSpecific map[string]any `json:"database_specific"`
}

// ImportStats counts what an import did.
type ImportStats struct {
	Files      int // JSON documents read
	Advisories int // advisories written (new or replaced)
	Packages   int // affected (ecosystem, package) rows written
	Skipped    int // withdrawn, or no ecosystem Berth can match
}

// batchSize is how many advisories one import transaction writes.
const batchSize = 1000

// Import loads OSV records from path: a JSON file, a .zip of JSON files (osv.dev's all.zip),
// or a directory holding either, at any depth. A record replaces the stored one with its id;
// a withdrawn record removes it. Records whose ecosystems Berth cannot order are skipped.
func (s *Store) Import(ctx context.Context, path string) (ImportStats, error) {
	var st ImportStats
	var batch []record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		a, p, err := s.write(ctx, batch)
		st.Advisories += a
		st.Packages += p
		batch = batch[:0]
		return err
	}
	add := func(name string, r io.Reader) error {
		st.Files++
		var rec record
		if err := json.NewDecoder(r).Decode(&rec); err != nil {
			return fmt.Errorf("import %s: %w", name, err)
		}
		if rec.ID == "" {
			return fmt.Errorf("import %s: the record has no id", name)
		}
		if !rec.keep() {
			st.Skipped++
		}
		batch = append(batch, rec)
		if len(batch) >= batchSize {
			return flush()
		}
		return nil
	}
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".json":
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return add(p, f)
		case ".zip":
			z, err := zip.OpenReader(p)
			if err != nil {
				return fmt.Errorf("import %s: %w", p, err)
			}
			defer z.Close()
			for _, zf := range z.File {
				if !strings.EqualFold(filepath.Ext(zf.Name), ".json") {
					continue
				}
				r, err := zf.Open()
				if err != nil {
					return fmt.Errorf("import %s: %s: %w", p, zf.Name, err)
				}
				err = add(p+":"+zf.Name, r)
				r.Close()
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("import %s: %w", path, err)
	}
	if err := flush(); err != nil {
		return st, err
	}
	if st.Files == 0 {
		return st, fmt.Errorf("import %s: no OSV JSON files (*.json, or a .zip of them) found", path)
	}
	return st, nil
}

// keep reports whether the record is worth storing: not withdrawn, and affecting at least one
// package in an ecosystem whose versions Berth can order.
func (r *record) keep() bool {
	if r.Withdrawn != "" {
		return false
	}
	for _, a := range r.Affected {
		if supported(a.Package.Ecosystem) && a.Package.Name != "" {
			return true
		}
	}
	return false
}

// cveIDs are the CVEs a record is about (see CVEIDs).
func (r *record) cveIDs() []string { return CVEIDs(r.ID, r.Aliases, r.Upstream) }

// severity is the record's CVSS v3 vector and score, and its rating: from the score when there
// is one, else from the database's own severity word.
func (r *record) severity() (vector string, score *float64, rating string) {
	for _, s := range r.Severity {
		if s.Type != "CVSS_V3" {
			continue
		}
		if sc, err := cvss3Score(s.Score); err == nil {
			return s.Score, &sc, severityOfScore(sc)
		}
	}
	if word, ok := r.DatabaseSpecific["severity"].(string); ok {
		return "", nil, severityWord(word)
	}
	return "", nil, "UNKNOWN"
}

// severityWord maps the words advisory databases use (GHSA's MODERATE, Debian's urgencies) to
// the scanner protocol's severities.
func severityWord(w string) string {
	switch strings.ToUpper(strings.TrimSpace(w)) {
	case "CRITICAL":
		return "CRITICAL"
	case "HIGH", "IMPORTANT":
		return "HIGH"
	case "MEDIUM", "MODERATE":
		return "MEDIUM"
	case "LOW":
		return "LOW"
	case "NEGLIGIBLE", "UNIMPORTANT", "NONE":
		return "NONE"
	}
	return "UNKNOWN"
}

// cweIDs collects CWE ids from database_specific.cwe_ids (GHSA's place for them).
func (r *record) cweIDs() []string {
	var ids []string
	if list, ok := r.DatabaseSpecific["cwe_ids"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				ids = append(ids, s)
			}
		}
	}
	return ids
}

// write replaces batch's records in one transaction.
func (s *Store) write(ctx context.Context, batch []record) (advisories, packages int, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("import advisories: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	// Replicas starting together import the same directory: one batch at a time, or the second
	// would trip over the first's rows.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('berth.advisory.import'))"); err != nil {
		return 0, 0, fmt.Errorf("import advisories: lock: %w", err)
	}
	ids := make([]string, len(batch))
	for i, r := range batch {
		ids[i] = r.ID
	}
	if _, err := tx.Exec(ctx, "DELETE FROM advisories WHERE osv_id = ANY($1)", ids); err != nil {
		return 0, 0, fmt.Errorf("import advisories: replace: %w", err)
	}
	type pkgRow struct {
		osvID, ecosystem, name, severity string
		ranges                           []byte
		versions                         []string
	}
	var pkgs []pkgRow
	rows := make([][]any, 0, len(batch))
	for _, r := range batch {
		if !r.keep() {
			continue
		}
		vector, score, rating := r.severity()
		links := make([]string, 0, len(r.References))
		for _, ref := range r.References {
			links = append(links, ref.URL)
		}
		aliases := slices.Concat(r.Aliases, r.Upstream)
		modified := r.Modified
		if modified.IsZero() {
			modified = time.Now()
		}
		rows = append(rows, []any{r.ID, r.cveIDs()[0], jsonText(aliases), r.Summary, r.Details, rating, score, vector,
			jsonText(r.cweIDs()), jsonText(links), modified})
		for _, a := range r.Affected {
			if !supported(a.Package.Ecosystem) || a.Package.Name == "" {
				continue
			}
			var ranges []osvRange
			for _, rg := range a.Ranges {
				if rg.Type == "ECOSYSTEM" {
					ranges = append(ranges, rg)
				}
			}
			if len(ranges) == 0 && len(a.Versions) == 0 {
				continue
			}
			rj, _ := json.Marshal(ranges)
			sev := ""
			for _, m := range []map[string]any{a.EcosystemSpecific, a.DatabaseSpecific} {
				for _, k := range []string{"severity", "urgency"} {
					if w, ok := m[k].(string); ok && sev == "" {
						sev = severityWord(w)
					}
				}
			}
			pkgs = append(pkgs, pkgRow{r.ID, a.Package.Ecosystem, a.Package.Name, sev, rj, a.Versions})
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"advisories"},
		[]string{"osv_id", "cve_id", "aliases", "summary", "details", "severity", "cvss_score_v3", "cvss_vector_v3", "cwe_ids", "links", "modified"},
		pgx.CopyFromRows(rows)); err != nil {
		return 0, 0, fmt.Errorf("import advisories: write: %w", err)
	}
	idOf := map[string]int{}
	res, err := tx.Query(ctx, "SELECT id, osv_id FROM advisories WHERE osv_id = ANY($1)", ids)
	if err != nil {
		return 0, 0, err
	}
	for res.Next() {
		var id int
		var osvID string
		if err := res.Scan(&id, &osvID); err != nil {
			return 0, 0, err
		}
		idOf[osvID] = id
	}
	if err := res.Err(); err != nil {
		return 0, 0, err
	}
	prow := make([][]any, 0, len(pkgs))
	for _, p := range pkgs {
		versions := p.versions
		if versions == nil {
			versions = []string{}
		}
		prow = append(prow, []any{idOf[p.osvID], p.ecosystem, p.name, string(p.ranges), jsonText(versions), p.severity})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"advisory_packages"},
		[]string{"advisory_id", "ecosystem", "package", "ranges", "versions", "severity"}, pgx.CopyFromRows(prow)); err != nil {
		return 0, 0, fmt.Errorf("import advisories: write packages: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("import advisories: commit: %w", err)
	}
	return len(rows), len(prow), nil
}

// jsonText is how ent stores a Strings field: JSON text.
func jsonText(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Count returns how many advisories are stored.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM advisories").Scan(&n); err != nil {
		return 0, fmt.Errorf("count advisories: %w", err)
	}
	return n, nil
}

// ErrNoAdvisories is returned by Match when the database is empty: a scan against nothing
// would report an image clean that may not be.
var ErrNoAdvisories = errors.New("the advisory database is empty: import OSV data with `berth advisories import PATH` or BERTH_ADVISORY_DIR")
