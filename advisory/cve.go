package advisory

import (
	"regexp"
	"strings"
)

// cvePattern is the form of a CVE id: the year, then four or more digits.
var cvePattern = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// IsCVE reports whether id is a CVE id. An id that merely starts with "CVE-" (a database's own
// record about a CVE, "CVE-2099-0001-OSV") is not one.
func IsCVE(id string) bool { return cvePattern.MatchString(id) }

// vulnIDPattern is the form of a vulnerability id of any database: a CVE, or an upper-case prefix
// and the database's own id (GHSA-…, GO-…, DSA-…).
var vulnIDPattern = regexp.MustCompile(`^(CVE-\d{4}-\d{4,}|[A-Z][A-Z0-9]*-[A-Za-z0-9._:-]+)$`)

// IsVulnID reports whether id names a vulnerability, as allowlists must: CVE-YYYY-NNNN, or another
// database's id. An id that starts as a CVE must be a whole one: "CVE-24-1" matches nothing.
func IsVulnID(id string) bool {
	if strings.HasPrefix(id, "CVE-") {
		return IsCVE(id)
	}
	return vulnIDPattern.MatchString(id)
}

// CVEIDs are the CVEs an OSV record is about, the ids it is reported under: its own id if that is
// a CVE id, else the CVE ids among its aliases (and upstream ids), in order, each once; a record
// about no CVE is reported under its own id. This is the one place the rule lives: advisories
// store its first id, and matching reports a finding per id.
func CVEIDs(id string, aliases ...[]string) []string {
	if IsCVE(id) {
		return []string{id}
	}
	var ids []string
	seen := map[string]bool{}
	for _, list := range aliases {
		for _, a := range list {
			if IsCVE(a) && !seen[a] {
				seen[a] = true
				ids = append(ids, a)
			}
		}
	}
	if len(ids) == 0 {
		return []string{id}
	}
	return ids
}
