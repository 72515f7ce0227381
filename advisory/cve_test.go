package advisory_test

import (
	"testing"

	"github.com/berth-registry/berth/advisory"
)

func TestIsVulnID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"CVE-2024-1234":       true,
		"CVE-2024-123456":     true,
		"GHSA-abcd-efgh-ijkl": true,
		"GO-2024-0001":        true,
		"DSA-5000-1":          true,
		"CVE-24-1":            false, // starts as a CVE, so must be a whole one
		"CVE-2024-1234-OSV":   false,
		"cve-2024-1234":       false,
		"not-a-cve":           false,
		"":                    false,
		"GHSA abcd":           false,
	} {
		if got := advisory.IsVulnID(id); got != want {
			t.Errorf("IsVulnID(%q) = %v, want %v", id, got, want)
		}
	}
}
