package project_test

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/artifact/artifacttest"
	"github.com/berth-registry/berth/ent"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/blob"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

func TestSummaryAggregatesStoragePullsAndSeverities(t *testing.T) {
	t.Parallel()
	env := artifacttest.Setup(t)
	p := env.Project(t, env.Admin, "team", false)
	other := env.Project(t, env.Admin, "other", false)
	v1 := env.Push(t, "team/app", "v1", "one")
	v2 := env.Push(t, "team/app", "v2", "two")
	now := time.Now().UTC()
	env.DB.Artifact.UpdateOneID(v1.ID).SetPushTime(now.AddDate(0, 0, -40)).ExecX(env.Admin)
	env.DB.Artifact.UpdateOneID(v2.ID).SetPushTime(now.AddDate(0, 0, -2)).ExecX(env.Admin)

	// Pulls: 3+2 today and 4 three days ago count; a pull 10 days ago is out of the window, and
	// another project's pulls and other events are not this project's pulls.
	for _, e := range []struct {
		typ     event.Type
		project int
		days    int
		count   int64
	}{
		{event.ArtifactPulled, p.ID, 0, 3}, {event.ArtifactPulled, p.ID, 0, 2}, {event.ArtifactPulled, p.ID, -3, 4},
		{event.ArtifactPulled, p.ID, -10, 9}, {event.ArtifactPulled, other.ID, 0, 7}, {event.ArtifactPushed, p.ID, 0, 1},
	} {
		env.DB.Event.Create().SetType(e.typ).SetProjectID(e.project).SetCount(e.count).
			SetOccurredAt(now.AddDate(0, 0, e.days)).SetDispatchedAt(now).ExecX(env.Admin)
	}

	// Severities: v1's report says HIGH; v2's failed, so it counts as not scanned, as does v3,
	// scanned only by a scanner that is not the project's.
	sc := env.DB.Scanner.Create().SetName("builtin").SetIsDefault(true).SaveX(env.Admin)
	report := func(a *ent.Artifact, status scanreport.Status, sev scanreport.Severity) {
		env.DB.ScanReport.Create().SetArtifactID(a.ID).SetScannerID(sc.ID).SetStatus(status).SetSeverity(sev).ExecX(env.Admin)
	}
	report(v1, scanreport.StatusSuccess, scanreport.SeverityHigh)
	report(v2, scanreport.StatusError, scanreport.SeverityUnknown)
	v3 := env.Push(t, "team/app", "v3", "three")
	env.DB.Artifact.UpdateOneID(v3.ID).SetPushTime(now.AddDate(0, 0, -2)).ExecX(env.Admin)
	otherScanner := env.DB.Scanner.Create().SetName("other").SaveX(env.Admin)
	env.DB.ScanReport.Create().SetArtifactID(v3.ID).SetScannerID(otherScanner.ID).
		SetStatus(scanreport.StatusSuccess).SetSeverity(scanreport.SeverityCritical).ExecX(env.Admin)

	s, err := env.Projects.Summary(env.Admin, p.ID)
	if err != nil {
		t.Fatalf("summary: %v", err)
	}

	// Storage: v1's blobs from the first day on, v2's and v3's own blobs (not the config they share) from
	// two days ago; the last day is the project's storage used.
	blobSum := func(q *ent.BlobQuery) int64 {
		var total int64
		for _, b := range q.AllX(env.Admin) {
			total += b.Size
		}
		return total
	}
	first := blobSum(env.DB.Blob.Query().Where(blob.HasArtifactsWith(entartifact.ID(v1.ID))))
	added := blobSum(env.DB.Blob.Query().Where(blob.HasArtifactsWith(entartifact.IDIn(v2.ID, v3.ID)), blob.Not(blob.HasArtifactsWith(entartifact.ID(v1.ID)))))
	used, err := env.Projects.StorageUsed(env.Admin, []int{p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Storage) != project.SummaryDays || s.Storage[0].Day != now.AddDate(0, 0, -(project.SummaryDays-1)).Format(time.DateOnly) ||
		s.Storage[project.SummaryDays-1].Day != now.Format(time.DateOnly) {
		t.Fatalf("storage days = %d, %v … %v", len(s.Storage), s.Storage[0], s.Storage[len(s.Storage)-1])
	}
	for i, d := range s.Storage {
		want := first
		if i >= project.SummaryDays-3 {
			want = first + added
		}
		if d.Value != want {
			t.Errorf("storage on %s = %d, want %d", d.Day, d.Value, want)
		}
	}
	if last := s.Storage[project.SummaryDays-1].Value; last != used[0] {
		t.Errorf("storage on the last day = %d, want the storage used %d", last, used[0])
	}

	wantPulls := make([]int64, project.PullDays)
	wantPulls[project.PullDays-1], wantPulls[project.PullDays-4] = 5, 4
	if len(s.Pulls) != project.PullDays {
		t.Fatalf("pull days = %d, want %d", len(s.Pulls), project.PullDays)
	}
	for i, d := range s.Pulls {
		if d.Value != wantPulls[i] {
			t.Errorf("pulls on %s = %d, want %d", d.Day, d.Value, wantPulls[i])
		}
	}

	want := map[string]int{"HIGH": 1, "NOT_SCANNED": 2}
	if len(s.Severities) != 7 || s.Severities[0].Severity != "CRITICAL" || s.Severities[6].Severity != "NOT_SCANNED" {
		t.Fatalf("severities = %+v; want every level, worst first", s.Severities)
	}
	for _, c := range s.Severities {
		if c.Count != want[c.Severity] {
			t.Errorf("%s = %d, want %d", c.Severity, c.Count, want[c.Severity])
		}
	}

	// A caller who may not see the project learns nothing.
	stranger := env.User(t, "stranger", false)
	if _, err := env.Projects.Summary(stranger, p.ID); !fault.IsNotFound(err) {
		t.Fatalf("a stranger's summary: %v; want not found", err)
	}
}
