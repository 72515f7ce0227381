package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/ent/scanner"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/ent/vulnerability"
	"github.com/berth-registry/berth/server/servertest"
)

// dashboardDocuments reads the GraphQL documents of the dashboard's source (every graphql(`…`) in
// ui/src), so that these tests ask what the dashboard asks and cannot drift from it.
func dashboardDocuments(t *testing.T) (operations, fragments map[string]string) {
	t.Helper()
	operations, fragments = map[string]string{}, map[string]string{}
	literal := regexp.MustCompile("(?s)graphql\\(`(.*?)`\\)")
	named := regexp.MustCompile(`^\s*(query|mutation|subscription|fragment)\s+(\w+)`)
	err := filepath.WalkDir("../ui/src", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, "/gql/") || !strings.HasSuffix(path, ".tsx") && !strings.HasSuffix(path, ".ts") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			if n := named.FindStringSubmatch(m[1]); n != nil {
				if n[1] == "fragment" {
					fragments[n[2]] = m[1]
				} else {
					operations[n[2]] = m[1]
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read the dashboard's documents: %v", err)
	}
	return operations, fragments
}

// dashboardOperation is operation name with the fragments it spreads (and theirs), ready to send.
func dashboardOperation(t *testing.T, name string) string {
	t.Helper()
	ops, frags := dashboardDocuments(t)
	doc, ok := ops[name]
	if !ok {
		t.Fatalf("the dashboard has no operation %s", name)
	}
	spread := regexp.MustCompile(`\.\.\.\s*(\w+)`)
	seen := map[string]bool{}
	for todo := []string{doc}; len(todo) > 0; todo = todo[1:] {
		for _, m := range spread.FindAllStringSubmatch(todo[0], -1) {
			if f, ok := frags[m[1]]; ok && !seen[m[1]] {
				seen[m[1]] = true
				doc += "\n" + f
				todo = append(todo, f)
			}
		}
	}
	return doc
}

// The repository page's artifact table (the dashboard's own query, its scan overviews, platforms,
// accessories and signatures) costs the same number of statements for 4 rows as for 24.
func TestDashboardArtifactPageStatementsDoNotGrowWithRows(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	ctx := context.Background()
	query := dashboardOperation(t, "Repository")
	projectID := env.CreateProject("rows", false)
	repo := env.DB.Repository.Create().SetName("rows/app").SetProjectID(projectID).SaveX(ctx)
	sc := env.DB.Scanner.Query().Where(scanner.IsDefault(true)).OnlyX(ctx)
	vuln := env.DB.Vulnerability.Create().SetKey("k1").SetScannerID(sc.ID).SetCveID("CVE-2026-0001").
		SetSeverity(vulnerability.SeverityHigh).SaveX(ctx)
	n := 0
	seed := func(count int) {
		for range count {
			n++
			config := fmt.Sprintf(`{"os":"linux","architecture":"arm64","created":"2026-01-0%dT00:00:00Z"}`, n%9+1)
			child := env.DB.Artifact.Create().SetRepositoryID(repo.ID).SetDigest(fmt.Sprintf("sha256:%064d", 1000+n)).
				SetMediaType("application/vnd.oci.image.manifest.v1+json").SetConfig(config).SaveX(ctx)
			a := env.DB.Artifact.Create().SetRepositoryID(repo.ID).SetDigest(fmt.Sprintf("sha256:%064d", n)).
				SetMediaType("application/vnd.oci.image.index.v1+json").AddChildren(child).
				SetPushTime(time.Now().Add(time.Duration(n) * time.Second)).SaveX(ctx)
			env.DB.Tag.Create().SetRepositoryID(repo.ID).SetArtifactID(a.ID).SetName(fmt.Sprintf("v%d", n)).
				SetPushTime(time.Now()).ExecX(ctx)
			env.DB.ScanReport.Create().SetArtifactID(child.ID).SetScannerID(sc.ID).SetStatus(scanreport.StatusSuccess).
				AddVulnerabilities(vuln).ExecX(ctx)
		}
	}
	var out struct {
		Repository struct {
			Artifacts struct {
				Edges []struct {
					Node struct {
						Platforms    []struct{ Architecture string }
						ScanOverview *struct{ Total int }
					}
				}
			}
		}
	}
	cost := func(rows int) int64 {
		before := env.Server.QueryCount()
		env.MustGraphQL("admin", servertest.AdminPassword, query, map[string]any{"name": "rows/app", "first": 25}, &out)
		ran := env.Server.QueryCount() - before
		edges := out.Repository.Artifacts.Edges
		if len(edges) != rows {
			t.Fatalf("%d rows listed, want %d (children stay under their index)", len(edges), rows)
		}
		for _, e := range edges {
			if e.Node.ScanOverview == nil || e.Node.ScanOverview.Total != 1 || len(e.Node.Platforms) != 1 {
				t.Fatalf("a row: %+v; want its child's platform and the one vulnerability", e.Node)
			}
		}
		t.Logf("the artifact table at %d rows: %d statements", rows, ran)
		return ran
	}
	seed(4)
	small := cost(4)
	seed(20)
	large := cost(24)
	// Up to 2 extra are a dataloader batch split in two on a loaded machine.
	if large-small > 2 {
		t.Fatalf("statements for 4 rows: %d, for 24 rows: %d; the table must not cost statements per row", small, large)
	}
}

// The project summary (the dashboard's own query) costs the same number of statements for a
// project of 2 artifacts as for one of 22: each series is one aggregated statement.
func TestDashboardProjectSummaryStatementsDoNotGrow(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	ctx := context.Background()
	query := dashboardOperation(t, "ProjectSummary")
	projectID := env.CreateProject("sums", false)
	repo := env.DB.Repository.Create().SetName("sums/app").SetProjectID(projectID).SaveX(ctx)
	n := 0
	seed := func(count int) {
		for range count {
			n++
			env.DB.Artifact.Create().SetRepositoryID(repo.ID).SetDigest(fmt.Sprintf("sha256:%064d", n)).
				SetMediaType("application/vnd.oci.image.manifest.v1+json").
				SetPushTime(time.Now().AddDate(0, 0, -n)).ExecX(ctx)
		}
	}
	var out struct {
		Project struct {
			Summary struct {
				Storage    []struct{ Value int64 }
				Pulls      []struct{ Value int64 }
				Severities []struct {
					Severity string
					Count    int
				}
			}
		}
	}
	cost := func(images int) int64 {
		before := env.Server.QueryCount()
		env.MustGraphQL("admin", servertest.AdminPassword, query, map[string]any{"name": "sums"}, &out)
		ran := env.Server.QueryCount() - before
		s := out.Project.Summary
		if len(s.Storage) != 30 || len(s.Pulls) != 7 || len(s.Severities) != 7 || s.Severities[6].Count != images {
			t.Fatalf("summary = %+v; want 30 storage days, 7 pull days, %d images not scanned", s, images)
		}
		t.Logf("the project summary with %d images: %d statements", images, ran)
		return ran
	}
	seed(2)
	small := cost(2)
	seed(20)
	if large := cost(22); large != small {
		t.Fatalf("statements for 2 images: %d, for 22: %d; the summary must not cost statements per artifact", small, large)
	}
}
