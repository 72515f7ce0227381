package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/servertest"
)

// The conformance suite's summary lines: nothing failed, and how many checks passed.
var (
	noFailures = regexp.MustCompile(`(?m)^\s*FAIL\.*:\s*0\s*$`)
	passCount  = regexp.MustCompile(`(?m)^\s*Pass\.*:\s*(\d+)\s*$`)
)

// TestOCIConformance runs the OCI distribution-spec conformance suite against a fresh Berth, as
// the admin (so pushes, deletes and referrers are all in scope). The report is kept under
// test-artifacts/conformance for CI.
func TestOCIConformance(t *testing.T) {
	t.Parallel()
	bin := servertest.Tool(t, "conformance")
	runConformance(t, bin, servertest.Start(t))
}

// runConformance runs the suite against env and fails t unless every check passed.
func runConformance(t *testing.T, bin string, env *servertest.Env) {
	t.Helper()
	workDir := t.TempDir()
	resultsDir := filepath.Join(workDir, "results")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+env.Host,
		"OCI_TLS=disabled",
		"OCI_REPO1=library/conformance1",
		"OCI_REPO2=library/conformance2",
		"OCI_USERNAME=admin",
		"OCI_PASSWORD="+servertest.AdminPassword,
		"OCI_DATA_SHA512=false",
		"OCI_DATA_NONDISTRIBUTABLE=false",
		"OCI_RESULTS_DIR="+resultsDir,
	)
	raw, runErr := cmd.CombinedOutput()
	out := string(raw)
	keepConformanceResults(t, resultsDir)

	// A run that checked nothing (every API disabled, say) must not count as a pass.
	passed := 0
	if m := passCount.FindStringSubmatch(out); m != nil {
		passed, _ = strconv.Atoi(m[1])
	}
	if runErr != nil || !noFailures.MatchString(out) || passed < 100 {
		var failed []string
		for line := range strings.Lines(out) {
			if strings.Contains(line, "failed test") {
				failed = append(failed, strings.TrimRight(line, "\n"))
			}
		}
		tail := out
		if len(failed) == 0 && len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		} else if len(failed) > 0 {
			tail = strings.Join(failed, "\n")
		}
		t.Fatalf("OCI conformance: exit %v, want 0 and a summary of 0 failures (%d passed):\n%s", runErr, passed, tail)
	}
}

// keepConformanceResults copies the suite's report (report.html, junit.xml, …) to
// <repo>/test-artifacts/conformance, where CI picks it up.
func keepConformanceResults(t *testing.T, resultsDir string) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Logf("keep conformance results: %v", err)
		return
	}
	dest := filepath.Join(root, "test-artifacts", "conformance")
	if err := os.RemoveAll(dest); err != nil {
		t.Logf("keep conformance results: %v", err)
		return
	}
	if err := os.CopyFS(dest, os.DirFS(resultsDir)); err != nil {
		t.Logf("keep conformance results: %v", err)
		return
	}
	t.Logf("conformance report in %s", dest)
}

// repoRoot is the nearest directory above the working directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
