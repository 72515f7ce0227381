package advisory

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Package is an installed OS package as the scanner found it.
type Package struct {
	// Ecosystems are the OSV ecosystems to look in, most specific first ("Debian:12", "Debian").
	Ecosystems []string
	Name       string // the binary package
	Version    string // the binary package's version
	// Source and SourceVersion name the source package (dpkg's Source, apk's origin, the
	// source RPM): Debian and Alpine advisories are written against them.
	Source        string
	SourceVersion string
}

// Finding is one vulnerability of one installed package.
type Finding struct {
	CVEID          string
	AdvisoryID     string
	Package        string
	Version        string
	FixedVersion   string
	Severity       string // UNKNOWN, NONE, LOW, MEDIUM, HIGH, CRITICAL
	CVSSScoreV3    *float64
	CVSSVectorV3   string
	CWEIDs         []string
	Description    string
	Links          []string
	AdvisoryAlias  []string
	SourcePackage  string
	EcosystemMatch string
}

// SeverityRank orders severities: 0 Unknown … 5 Critical.
func SeverityRank(s string) int {
	switch strings.ToUpper(s) {
	case "NONE":
		return 1
	case "LOW":
		return 2
	case "MEDIUM":
		return 3
	case "HIGH":
		return 4
	case "CRITICAL":
		return 5
	}
	return 0
}

// Match returns the findings for pkgs, one per (CVE, package, installed version), sorted by
// severity (highest first), CVE id and package. Advisories are looked up by source and binary
// name in one query; versions are compared in the ecosystem's own order.
func (s *Store) Match(ctx context.Context, pkgs []Package) ([]Finding, error) {
	if n, err := s.Count(ctx); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, ErrNoAdvisories
	}
	ecoSet, nameSet := map[string]bool{}, map[string]bool{}
	for _, p := range pkgs {
		for _, e := range p.Ecosystems {
			ecoSet[e] = true
		}
		nameSet[p.Name] = true
		if p.Source != "" {
			nameSet[p.Source] = true
		}
	}
	if len(ecoSet) == 0 || len(nameSet) == 0 {
		return nil, nil
	}
	type candidate struct {
		osvID, cveID, summary, details, severity, vector, pkgSeverity string
		score                                                         *float64
		aliases, cwes, links, versions                                []string
		ranges                                                        []osvRange
	}
	byKey := map[[2]string][]candidate{} // (ecosystem, package) → advisories
	rows, err := s.pool.Query(ctx, `
SELECT ap.ecosystem, ap.package, ap.ranges, ap.versions, ap.severity,
       a.osv_id, a.cve_id, a.aliases, a.summary, a.details, a.severity, a.cvss_score_v3, a.cvss_vector_v3, a.cwe_ids, a.links
FROM advisory_packages ap JOIN advisories a ON a.id = ap.advisory_id
WHERE ap.ecosystem = ANY($1) AND ap.package = ANY($2)`, keys(ecoSet), keys(nameSet))
	if err != nil {
		return nil, fmt.Errorf("match advisories: %w", err)
	}
	for rows.Next() {
		var eco, name string
		var rangesJSON, versionsJSON, aliasesJSON, cwesJSON, linksJSON []byte
		var c candidate
		if err := rows.Scan(&eco, &name, &rangesJSON, &versionsJSON, &c.pkgSeverity, &c.osvID, &c.cveID, &aliasesJSON,
			&c.summary, &c.details, &c.severity, &c.score, &c.vector, &cwesJSON, &linksJSON); err != nil {
			rows.Close()
			return nil, fmt.Errorf("match advisories: %w", err)
		}
		for _, f := range []struct {
			b []byte
			v any
		}{{rangesJSON, &c.ranges}, {versionsJSON, &c.versions}, {aliasesJSON, &c.aliases}, {cwesJSON, &c.cwes}, {linksJSON, &c.links}} {
			if len(f.b) > 0 {
				if err := json.Unmarshal(f.b, f.v); err != nil {
					rows.Close()
					return nil, fmt.Errorf("match advisories: advisory %s: %w", c.osvID, err)
				}
			}
		}
		byKey[[2]string{eco, name}] = append(byKey[[2]string{eco, name}], c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("match advisories: %w", err)
	}

	found := map[[3]string]*Finding{}
	for _, p := range pkgs {
		// The most specific ecosystem that has advisories for the package decides.
		for _, eco := range p.Ecosystems {
			var hits []candidate
			version := p.Version
			if p.Source != "" {
				hits = byKey[[2]string{eco, p.Source}]
				if p.SourceVersion != "" {
					version = p.SourceVersion
				}
			}
			if len(hits) == 0 {
				hits = byKey[[2]string{eco, p.Name}]
				version = p.Version
			}
			if len(hits) == 0 {
				continue
			}
			for _, c := range hits {
				ok, fixed, err := affected(eco, version, c.ranges, c.versions)
				if err != nil {
					return nil, fmt.Errorf("match %s %s against %s: %w", p.Name, version, c.osvID, err)
				}
				if !ok {
					continue
				}
				severity := c.severity
				if severity == "UNKNOWN" && c.pkgSeverity != "" {
					severity = c.pkgSeverity
				}
				description := c.details
				if description == "" {
					description = c.summary
				}
				for _, cve := range CVEIDs(c.osvID, c.aliases) {
					k := [3]string{cve, p.Name, p.Version}
					f := found[k]
					if f == nil {
						found[k] = &Finding{CVEID: cve, AdvisoryID: c.osvID, Package: p.Name, Version: p.Version, FixedVersion: fixed,
							Severity: severity, CVSSScoreV3: c.score, CVSSVectorV3: c.vector, CWEIDs: c.cwes, Description: description,
							Links: c.links, AdvisoryAlias: c.aliases, SourcePackage: p.Source, EcosystemMatch: eco}
						continue
					}
					// Two advisories on one CVE (a DSA and the CVE's own record): keep the
					// higher severity and the details that are known, and the later fix.
					if SeverityRank(severity) > SeverityRank(f.Severity) {
						f.Severity = severity
					}
					if f.CVSSScoreV3 == nil && c.score != nil {
						f.CVSSScoreV3, f.CVSSVectorV3 = c.score, c.vector
					}
					if f.Description == "" {
						f.Description = description
					}
					if len(f.CWEIDs) == 0 {
						f.CWEIDs = c.cwes
					}
					if fixed != "" && f.FixedVersion != "" {
						if cmp, err := Compare(eco, fixed, f.FixedVersion); err == nil && cmp > 0 {
							f.FixedVersion = fixed
						}
					} else if fixed == "" {
						// One advisory knows no fix yet: the CVE is not fixable.
						f.FixedVersion = ""
					}
					for _, l := range c.links {
						if !contains(f.Links, l) {
							f.Links = append(f.Links, l)
						}
					}
				}
			}
			break
		}
	}
	out := make([]Finding, 0, len(found))
	for _, f := range found {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ra, rb := SeverityRank(a.Severity), SeverityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if a.CVEID != b.CVEID {
			return a.CVEID < b.CVEID
		}
		return a.Package < b.Package
	})
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
