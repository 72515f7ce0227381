package auditlog_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auditlog"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/server/servertest"
)

type bundle struct {
	*servertest.Domain
	log         *auditlog.Service
	alpha, beta *ent.Project
	admin       context.Context
	dev         context.Context // alpha's developer: reads alpha's log
	guest       context.Context // alpha's limited guest: does not
}

func setup(t *testing.T) bundle {
	t.Helper()
	d := servertest.NewDomain(t)
	b := bundle{Domain: d, log: auditlog.New(d.Pool, d.DB, d.Auth, d.Projects, d.AuditSettings, d.Audit),
		admin: d.User(t, "root", "Root-Password-1", true), dev: d.User(t, "dev", "Dev-Password-1", false),
		guest: d.User(t, "guest", "Guest-Password-1", false)}
	b.alpha = d.Project(t, "alpha", map[string]member.Role{"dev": member.RoleDeveloper, "guest": member.RoleLimitedGuest})
	b.beta = d.Project(t, "beta", nil)
	return b
}

var kind = servertest.FaultKind

func TestQueryAuthorizesAndFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, e := range []audit.Entry{
		{User: "dev", Project: "alpha", Operation: audit.OpCreate, ResourceType: "repository", Resource: "alpha/web"},
		{User: "dev", Project: "alpha", Operation: audit.OpCreate, ResourceType: "repository", Resource: "alpha/api"},
		{User: "dev", Project: "alpha", Operation: audit.OpCreate, ResourceType: "repository", Resource: "alpha/web_cache"},
		{User: "root", Project: "beta", Operation: audit.OpCreate, ResourceType: "repository", Resource: "beta/web"},
		{User: "root", Operation: audit.OpCreate, ResourceType: "user", Resource: "dev"},
	} {
		b.Audit.Log(ctx, e)
	}
	b.WaitAudit(t, audit.OpCreate, "user", "dev") // the last, written in order

	if _, err := b.log.Query(b.dev, nil, nil); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a developer reads the system's log: %v, want forbidden", err)
	}
	if _, err := b.log.Query(b.guest, &b.alpha.ID, nil); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a limited guest reads alpha's log: %v, want forbidden", err)
	}
	if _, err := b.log.Query(b.dev, &b.beta.ID, nil); !fault.IsNotFound(err) {
		t.Errorf("a developer of alpha reads beta's log: %v, want not found", err)
	}
	count := func(ctx context.Context, projectID *int, glob string) int {
		t.Helper()
		var g *string
		if glob != "" {
			g = &glob
		}
		q, err := b.log.Query(ctx, projectID, g)
		if err != nil {
			t.Fatalf("query %q: %v", glob, err)
		}
		return q.CountX(context.Background())
	}
	for _, tc := range []struct {
		ctx     context.Context
		project *int
		glob    string
		want    int
	}{
		{b.admin, nil, "", 5},
		{b.dev, &b.alpha.ID, "", 3},
		{b.admin, &b.beta.ID, "", 1},
		{b.admin, nil, "*/web", 2},
		{b.dev, &b.alpha.ID, "alpha/{web,api}", 2},
		{b.dev, &b.alpha.ID, "alpha/we?", 1},
		{b.dev, &b.alpha.ID, "alpha/web_*", 1}, // _ is literal, not LIKE's any character
	} {
		if got := count(tc.ctx, tc.project, tc.glob); got != tc.want {
			t.Errorf("glob %q in %v: %d entries, want %d", tc.glob, tc.project, got, tc.want)
		}
	}
	for _, bad := range []string{"alpha/{web", "alpha/web}", "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}"} {
		if _, err := b.log.Query(b.admin, nil, &bad); kind(err) != fault.KindBadInput {
			t.Errorf("glob %q: %v, want bad input", bad, err)
		}
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.log.Settings(b.dev); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a developer reads the settings: %v, want forbidden", err)
	}
	off := false
	if err := b.log.UpdateSettings(b.dev, auditlog.SettingsInput{LogPulls: &off}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("a developer changes the settings: %v, want forbidden", err)
	}
	skip := true
	if err := b.log.UpdateSettings(b.admin, auditlog.SettingsInput{SkipDatabase: &skip}); kind(err) != fault.KindBadInput {
		t.Errorf("skip the database without an endpoint: %v, want bad input", err)
	}
	// An endpoint nobody listens on is refused; one that answers is kept.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := closed.Addr().String()
	_ = closed.Close()
	if err := b.log.UpdateSettings(b.admin, auditlog.SettingsInput{ForwardEndpoint: &gone}); kind(err) != fault.KindBadInput {
		t.Errorf("an endpoint nobody listens on: %v, want bad input", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	endpoint, protocol := ln.Addr().String(), "TCP"
	if err := b.log.UpdateSettings(b.admin, auditlog.SettingsInput{ForwardEndpoint: &endpoint, ForwardProtocol: &protocol, LogPulls: &off}); err != nil {
		t.Fatalf("a listening endpoint: %v", err)
	}
	st, err := b.log.Settings(b.admin)
	if err != nil {
		t.Fatal(err)
	}
	if st.ForwardEndpoint != endpoint || st.ForwardProtocol != "tcp" || st.LogPulls || st.SkipDatabase {
		t.Fatalf("settings %+v", st.Config)
	}
	b.WaitAudit(t, audit.OpUpdate, "configuration", "audit log settings")
}
