package retention

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// fixture is 50 tags in two repositories of project p, with set push and pull times: app holds
// a1…a40 (tag v<i>, pushed i days ago; a30 is tagged release-1 instead) and two untagged
// artifacts, tools holds t1…t10 (tag t<i>, pushed 100 days ago).
func fixture(now time.Time) []Candidate {
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	var cs []Candidate
	for i := 1; i <= 40; i++ {
		c := Candidate{ID: i, Repository: "p/app", Digest: fmt.Sprintf("sha256:a%d", i), Tags: []string{fmt.Sprintf("v%d", i)},
			PushedAt: now.Add(-time.Duration(i) * 24 * time.Hour)}
		if i == 30 {
			c.Tags = []string{"release-1"}
		}
		switch i {
		case 5:
			c.PulledAt = ago(10 * time.Hour)
		case 10:
			c.PulledAt = ago(20 * time.Hour)
		case 9:
			c.PulledAt = ago(30 * time.Minute)
		case 40:
			c.PulledAt = ago(2 * time.Hour)
		}
		cs = append(cs, c)
	}
	cs = append(cs,
		Candidate{ID: 101, Repository: "p/app", Digest: "sha256:u1", PushedAt: now.Add(-48 * time.Hour)},
		Candidate{ID: 102, Repository: "p/app", Digest: "sha256:u2", PushedAt: now.Add(-72 * time.Hour), PulledAt: ago(20 * time.Minute)})
	for i := 1; i <= 10; i++ {
		cs = append(cs, Candidate{ID: 200 + i, Repository: "p/tools", Digest: fmt.Sprintf("sha256:t%d", i), Tags: []string{fmt.Sprintf("t%d", i)},
			PushedAt: now.Add(-100 * 24 * time.Hour)})
	}
	return cs
}

var fixtureRules = []Rule{
	{Template: LatestPushed, N: 5, RepositoryPattern: "app", TagPattern: "v*"},
	{Template: LatestPulled, N: 2, RepositoryPattern: "app", TagPattern: "**"},
	{Template: Always, RepositoryPattern: "app", TagPattern: "release-*"},
	{Template: LatestPushed, N: 1, RepositoryPattern: "app", TagPattern: "none", Untagged: true},
	{Template: PushedWithin, N: 8, RepositoryPattern: "app", TagPattern: "v3*"},
	{Template: Always, RepositoryPattern: "**", TagPattern: "**", Disabled: true},
	{Template: Always, RepositoryPattern: "app", RepositoryExclude: true, TagPattern: "t1"},
}

// fixtureSurvivors is what the fixture keeps: the 5 newest v* pushes, the 2 most recent pulls,
// the release, the newest untagged artifact, one pulled within the grace window, and t1.
var fixtureSurvivors = []string{"sha256:a1", "sha256:a2", "sha256:a3", "sha256:a4", "sha256:a5", "sha256:a9", "sha256:a30",
	"sha256:a40", "sha256:t1", "sha256:u1", "sha256:u2"}

func TestEvaluateFixture(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, r := range fixtureRules {
		if err := r.Check(); err != nil {
			t.Fatalf("rule %+v: %v", r, err)
		}
	}
	ds := Evaluate(fixtureRules, fixture(now), now, time.Hour)
	if len(ds) != 52 {
		t.Fatalf("%d decisions, want one for each of the 52 artifacts", len(ds))
	}
	var kept []string
	for _, d := range ds {
		if d.Keep {
			kept = append(kept, d.Digest)
		}
	}
	slices.Sort(kept)
	want := slices.Sorted(slices.Values(fixtureSurvivors))
	if !slices.Equal(kept, want) {
		t.Fatalf("kept %v\nwant %v", kept, want)
	}
	// Without the grace window, u2 goes; with no rule scoping tools, tools is left alone.
	ds = Evaluate(fixtureRules[:5], fixture(now), now, 0)
	for _, d := range ds {
		if d.Repository == "p/tools" {
			t.Fatalf("a repository no rule scopes was decided on: %+v", d)
		}
		if d.Digest == "sha256:u2" && d.Keep {
			t.Fatal("u2 kept without the grace window")
		}
	}
}

func TestRuleCheck(t *testing.T) {
	t.Parallel()
	for _, r := range []Rule{
		{Template: "keepAll", RepositoryPattern: "**", TagPattern: "**"},
		{Template: LatestPushed, N: 0, RepositoryPattern: "**", TagPattern: "**"},
		{Template: Always, RepositoryPattern: "", TagPattern: "**"},
		{Template: Always, RepositoryPattern: "**", TagPattern: "[a-"},
	} {
		if r.Check() == nil {
			t.Errorf("%+v passed the check", r)
		}
	}
}
