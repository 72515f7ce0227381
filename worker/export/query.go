package export

import (
	"fmt"
	"strings"

	"github.com/berth-registry/berth/worker/export/glob"
)

// Params are an export's filters, with Harbor's names and semantics (harbor-compat §2). Every
// filter is applied in SQL, so no row is lost to paging.
type Params struct {
	// Projects are the project ids to export from: at least one (Harbor allows exactly one).
	Projects []int `json:"projects"`
	// Repositories is a doublestar glob on the repository name without its project prefix.
	Repositories string `json:"repositories,omitempty"`
	// Tags is a glob on tag names: an artifact is kept if any of its tags (or its index's) matches;
	// untagged artifacts are always kept.
	Tags string `json:"tags,omitempty"`
	// Labels keeps artifacts that carry any of these label ids (or whose index does).
	Labels []int `json:"labels,omitempty"`
	// CVEIDs is a glob on the CVE id.
	CVEIDs string `json:"cveIds,omitempty"`
}

// FieldError is a filter that cannot be used: Field names it the way the API does.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks the filters, naming the field that is wrong.
func (p Params) Validate() error {
	if len(p.Projects) == 0 {
		return &FieldError{Field: "projects", Message: "name at least one project to export from"}
	}
	for _, g := range []struct{ field, glob string }{
		{"repositories", p.Repositories}, {"tags", p.Tags}, {"cveIds", p.CVEIDs},
	} {
		if _, err := glob.Regex(g.glob); err != nil {
			return &FieldError{Field: g.field, Message: err.Error()}
		}
	}
	return nil
}

// The CSV columns, exactly as Harbor writes them.
var header = []string{"Repository", "Artifact Digest", "CVE", "Package", "Current Version",
	"Fixed in version", "Severity", "CWE Ids", "Additional Data", "Scanner"}

// Query returns the SQL that lists an export's rows, in the CSV's column order, and its arguments.
// It must be validated first. The same statement feeds the export and, in the benchmark, COPY.
//
// An artifact's tags and labels are its own plus those of any index that lists it, so the
// platform images of a tagged index are kept or dropped with it. Accessories (signatures, SBOMs)
// are not exported. Equal rows collapse into one (DISTINCT), as in Harbor.
func (p Params) Query() (string, []any) {
	args := []any{p.Projects}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where := []string{
		"r.project_id = ANY($1)",
		"sr.status = 'SUCCESS'",
		"NOT EXISTS (SELECT 1 FROM accessories x WHERE x.artifact_accessory_links = a.id)",
	}
	// Artifacts whose tags and labels a (as a child of an index) inherits: itself and its parents.
	// In artifact_children, artifact_id is the index and parent_id the child (ent's column names).
	const family = `(SELECT a.id UNION SELECT ac.artifact_id FROM artifact_children ac WHERE ac.parent_id = a.id)`
	if re, _ := glob.Regex(p.Repositories); re != "" {
		where = append(where, "substr(r.name, length(pr.name) + 2) ~ "+arg(re))
	}
	if re, _ := glob.Regex(p.Tags); re != "" {
		where = append(where, fmt.Sprintf(`(NOT EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id IN %[1]s)
    OR EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id IN %[1]s AND t.name ~ %[2]s))`, family, arg(re)))
	}
	if len(p.Labels) > 0 {
		where = append(where, fmt.Sprintf(`EXISTS (SELECT 1 FROM artifact_labels al WHERE al.artifact_id IN %s AND al.label_id = ANY(%s))`,
			family, arg(p.Labels)))
	}
	if re, _ := glob.Regex(p.CVEIDs); re != "" {
		where = append(where, "v.cve_id ~ "+arg(re))
	}
	return `SELECT DISTINCT r.name, a.digest, v.cve_id, v.package, v.package_version, v.fixed_version,
  initcap(lower(v.severity)),
  CASE WHEN jsonb_typeof(v.cwe_ids) = 'array' THEN coalesce((SELECT string_agg(c, ',' ORDER BY n)
    FROM jsonb_array_elements_text(v.cwe_ids) WITH ORDINALITY e(c, n)), '') ELSE '' END,
  v.vendor_attributes, s.name
FROM artifacts a
JOIN repositories r ON r.id = a.repository_id
JOIN projects pr ON pr.id = r.project_id
JOIN scan_reports sr ON sr.artifact_id = a.id
JOIN scanners s ON s.id = sr.scanner_id
JOIN scan_report_vulnerabilities srv ON srv.scan_report_id = sr.id
JOIN vulnerabilities v ON v.id = srv.vulnerability_id
WHERE ` + strings.Join(where, "\n  AND ") + `
ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10`, args
}
