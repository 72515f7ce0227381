package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/ent/tag"
)

// SystemAllowlistKey is the settings row holding the system CVE allowlist (a JSON array).
const SystemAllowlistKey = "scan.cve_allowlist"

// Policy enforces a project's prevent_vulnerable setting on pulls.
type Policy struct {
	svc *Service
}

// NewPolicy returns the pull policy.
func NewPolicy(svc *Service) *Policy { return &Policy{svc: svc} }

// SystemAllowlist reads the CVE ids every project's policy ignores.
func (s *Service) SystemAllowlist(ctx context.Context) ([]string, error) {
	var v string
	err := s.pool.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", SystemAllowlistKey).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("system CVE allowlist: %w", err)
	}
	var list []string
	if err := json.Unmarshal([]byte(v), &list); err != nil {
		return nil, fmt.Errorf("system CVE allowlist: %w", err)
	}
	return list, nil
}

// Check returns why the manifest reference (tag or digest) of repo may not be pulled from proj,
// or "" when it may: the project prevents vulnerable pulls and the artifact (any child, for an
// index) is not scanned yet, or has a vulnerability at or above the project's threshold that
// neither the system nor the project allowlist names.
func (p *Policy) Check(ctx context.Context, proj *ent.Project, repo, reference string) (string, error) {
	if !proj.PreventVulnerable {
		return "", nil
	}
	q := p.svc.db.Artifact.Query().Where(artifact.HasRepositoryWith(repository.Name(repo)))
	if strings.Contains(reference, ":") {
		q = q.Where(artifact.Digest(reference))
	} else {
		q = q.Where(artifact.HasTagsWith(tag.Name(reference)))
	}
	a, err := q.First(ctx)
	if ent.IsNotFound(err) {
		return "", nil // Distribution answers 404
	}
	if err != nil {
		return "", err
	}
	threshold := string(proj.SeverityThreshold)
	policy := fmt.Sprintf("project %s prevents pulling artifacts with vulnerabilities of severity %s or higher", proj.Name, threshold)
	sc, err := p.svc.ScannerFor(ctx, proj.ScannerID)
	if errors.Is(err, ErrNoScanner) {
		return fmt.Sprintf("%s@%s has not been scanned and no scanner is enabled; %s", repo, a.Digest, policy), nil
	}
	if err != nil {
		return "", err
	}
	targets, err := p.svc.Targets(ctx, a)
	if errors.Is(err, ErrNotScannable) {
		return "", nil // nothing a scanner reads: nothing to prevent
	}
	if err != nil {
		return "", err
	}
	ids := make([]int, len(targets))
	for i, t := range targets {
		ids[i] = t.ID
	}
	reports, err := p.svc.db.ScanReport.Query().Where(scanreport.ArtifactIDIn(ids...), scanreport.ScannerID(sc.ID),
		scanreport.StatusEQ(scanreport.StatusSuccess)).IDs(ctx)
	if err != nil {
		return "", err
	}
	if len(reports) < len(targets) {
		return fmt.Sprintf("%s@%s has not been scanned by %s: scan it first; %s", repo, a.Digest, sc.Name, policy), nil
	}
	allow, err := p.svc.SystemAllowlist(ctx)
	if err != nil {
		return "", err
	}
	allow = append(allow, proj.CveAllowlist...)
	// An empty allowlist may be a nil slice, which reaches SQL as NULL; `NOT x = ANY(NULL)` is
	// NULL, which would let every vulnerability through: hence the coalesce.
	rows, err := p.svc.pool.Query(ctx, `
SELECT DISTINCT v.cve_id FROM scan_report_vulnerabilities l JOIN vulnerabilities v ON v.id = l.vulnerability_id
WHERE l.scan_report_id = ANY($1) AND v.severity_rank >= $2 AND NOT v.cve_id = ANY(coalesce($3::text[], '{}'))
ORDER BY v.cve_id`,
		reports, advisory.SeverityRank(threshold), allow)
	if err != nil {
		return "", fmt.Errorf("pull policy: %w", err)
	}
	cves, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("pull policy: %w", err)
	}
	if len(cves) == 0 {
		return "", nil
	}
	shown := cves
	if len(shown) > 5 {
		shown = append(shown[:5:5], "…")
	}
	return fmt.Sprintf("%s@%s has %d vulnerabilities of severity %s or higher (%s); %s: fix them, or allowlist the CVEs",
		repo, a.Digest, len(cves), threshold, strings.Join(shown, ", "), policy), nil
}
