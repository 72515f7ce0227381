package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/server/servertest"
)

// TestExportProgressIsPublished: the owner's exportProgress subscription follows an export to its
// end, admins see its EXPORT_* events, and nobody else may follow it.
func TestExportProgressIsPublished(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	ctx := context.Background()
	proj := env.CreateProject("scanned", false)
	env.CreateUser("dev", "dev-password")
	env.CreateUser("other", "other-password")
	env.AddMember(proj, "dev", "developer")
	env.AddMember(proj, "other", "developer")
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	if out, err := crane("append", "-f", layerTar(t, "f", "x"), "-t", env.Host+"/scanned/app:1"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	a := env.DB.Artifact.Query().Where(artifact.HasTags()).OnlyX(ctx)
	sc := env.DB.Scanner.Create().SetName("Trivy").SaveX(ctx)
	var ids []int
	for i := range 3 {
		ids = append(ids, env.DB.Vulnerability.Create().SetKey(fmt.Sprint("k", i)).SetScannerID(sc.ID).
			SetCveID(fmt.Sprintf("CVE-2024-%d", i)).SaveX(ctx).ID)
	}
	env.DB.ScanReport.Create().SetArtifactID(a.ID).SetScannerID(sc.ID).SetStatus(scanreport.StatusSuccess).AddVulnerabilityIDs(ids...).ExecX(ctx)

	admin := dialGraphQLWS(t, env, "admin", servertest.AdminPassword)
	admin.subscribe(env, "1", `subscription { events(types: [EXPORT_STARTED, EXPORT_COMPLETED]) { type jobID operator } }`, nil)

	var started struct{ ExportCVE struct{ ID string } }
	env.MustGraphQL("dev", "dev-password", `mutation($p: ID!) { exportCVE(input: {projects: [$p]}) { id } }`, map[string]any{"p": proj}, &started)
	id := started.ExportCVE.ID

	dev := dialGraphQLWS(t, env, "dev", "dev-password")
	dev.send(map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($id: ID!) { exportProgress(id: $id) { status rows estimatedRows downloadURL } }`, "variables": map[string]any{"id": id}}})
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var states []string
	for {
		m := dev.next(wait)
		if m["type"] == "complete" {
			break
		}
		b, _ := json.Marshal(m["payload"])
		states = append(states, string(b))
	}
	last := states[len(states)-1]
	if !strings.Contains(last, `"status":"SUCCESS"`) || !strings.Contains(last, `"rows":3`) ||
		!strings.Contains(last, `"downloadURL":"/api/v2.0/export/cve/download/`+id+`"`) {
		t.Fatalf("exportProgress sent %v", states)
	}

	var seen []string
	for len(seen) < 2 {
		m := admin.next(wait)
		b, _ := json.Marshal(m["payload"])
		if strings.Contains(string(b), `"jobID":"`+id+`"`) || strings.Contains(string(b), `"jobID":`+id) {
			seen = append(seen, string(b))
		}
	}
	if !strings.Contains(seen[0], "EXPORT_STARTED") || !strings.Contains(seen[1], "EXPORT_COMPLETED") || !strings.Contains(seen[1], `"operator":"dev"`) {
		t.Errorf("admin saw %v", seen)
	}

	// Another member may not follow it.
	other := dialGraphQLWS(t, env, "other", "other-password")
	other.send(map[string]any{"id": "3", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($id: ID!) { exportProgress(id: $id) { status } }`, "variables": map[string]any{"id": id}}})
	m := other.next(wait)
	if b, _ := json.Marshal(m); m["type"] != "error" && !strings.Contains(string(b), "FORBIDDEN") {
		t.Errorf("another user's subscription got %s", b)
	}
}
