package export_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/ent/vulnerability"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/server/servertest"
)

// fixture is a running Berth with images pushed by crane and scan results written the way the
// scanner writes them: the bundle every export test starts from.
type fixture struct {
	env     *servertest.Env
	pool    *pgxpool.Pool
	crane   func(args ...string) string
	alpha   int // project ids
	beta    int
	scanner *ent.Scanner
	t       *testing.T
}

func setup(t *testing.T) *fixture {
	t.Helper()
	env := servertest.Start(t)
	pool, err := pgxpool.New(context.Background(), env.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	craneBin := servertest.Tool(t, "crane")
	vars := []string{"DOCKER_CONFIG=" + t.TempDir()}
	servertest.Run(t, vars, craneBin, "auth", "login", env.Host, "-u", "admin", "-p", servertest.AdminPassword, "--insecure")
	f := &fixture{env: env, pool: pool, t: t,
		crane: func(args ...string) string { return servertest.Run(t, vars, craneBin, append(args, "--insecure")...) }}
	f.alpha = env.CreateProject("alpha", false)
	f.beta = env.CreateProject("beta", false)
	f.scanner = env.DB.Scanner.Create().SetName("Trivy").SaveX(context.Background())
	return f
}

// push pushes a one-layer image to ref (host omitted) and returns its digest.
func (f *fixture) push(ref, content string) string {
	f.t.Helper()
	dir := f.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
	tarPath := filepath.Join(f.t.TempDir(), "layer.tar")
	servertest.Run(f.t, nil, "tar", "-C", dir, "-cf", tarPath, "f")
	f.crane("append", "-f", tarPath, "-t", f.env.Host+"/"+ref)
	return strings.TrimSpace(f.crane("digest", f.env.Host+"/"+ref))
}

// artifact returns the indexed artifact of repo (full name) with digest.
func (f *fixture) artifact(repo, digest string) *ent.Artifact {
	f.t.Helper()
	return f.env.DB.Artifact.Query().
		Where(artifact.Digest(digest), artifact.HasRepositoryWith(repository.Name(repo))).OnlyX(context.Background())
}

// vuln describes one finding of a report.
type vuln struct {
	cve, pkg, version, fixed, severity string
	cwe                                []string
	vendor, description                string
}

// report records a successful scan of a with the given findings, deduplicating them by key as the
// scanner does.
func (f *fixture) report(a *ent.Artifact, vulns ...vuln) {
	f.t.Helper()
	ctx := context.Background()
	db := f.env.DB
	ids := make([]int, 0, len(vulns))
	for _, v := range vulns {
		sum := sha256.Sum256(fmt.Appendf(nil, "%d|%s|%s|%s|%s|%s|%v|%s|%s", f.scanner.ID, v.cve, v.pkg, v.version, v.fixed, v.severity, v.cwe, v.vendor, v.description))
		key := hex.EncodeToString(sum[:])
		id, err := db.Vulnerability.Query().Where(vulnerability.Key(key)).OnlyID(ctx)
		if ent.IsNotFound(err) {
			id = db.Vulnerability.Create().SetKey(key).SetScannerID(f.scanner.ID).SetCveID(v.cve).
				SetPackage(v.pkg).SetPackageVersion(v.version).SetFixedVersion(v.fixed).
				SetSeverity(vulnerability.Severity(v.severity)).SetCweIds(v.cwe).SetVendorAttributes(v.vendor).SetDescription(v.description).
				SaveX(ctx).ID
		} else if err != nil {
			f.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	db.ScanReport.Create().SetArtifactID(a.ID).SetScannerID(f.scanner.ID).SetStatus(scanreport.StatusSuccess).
		SetScannerName("Trivy").AddVulnerabilityIDs(ids...).ExecX(ctx)
}

// storage is a driver on the server's registry storage, as the server builds it.
func (f *fixture) storage() storagedriver.StorageDriver {
	f.t.Helper()
	d, err := registry.StorageDriver(context.Background(), registry.Config{DataDir: f.env.DataDir, Storage: f.env.Config.Storage})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}
