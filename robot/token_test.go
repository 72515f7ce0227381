package robot_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/robot"
)

func TestAPITokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name string
		in   robot.TokenInput
	}{
		{"no name", robot.TokenInput{Name: " ", Scopes: []string{"repository:pull"}}},
		{"no scopes", robot.TokenInput{Name: "ci"}},
		{"unknown scope", robot.TokenInput{Name: "ci", Scopes: []string{"repository:fly"}}},
		{"* with others", robot.TokenInput{Name: "ci", Scopes: []string{"*", "repository:pull"}}},
	} {
		if _, err := b.robots.CreateToken(b.dev, tc.in); kind(err) != fault.KindBadInput {
			t.Errorf("%s: %v, want bad input", tc.name, err)
		}
	}
	days := 0
	if _, err := b.robots.CreateToken(b.dev, robot.TokenInput{Name: "ci", Scopes: []string{"*"}, ExpiresInDays: &days}); kind(err) != fault.KindBadInput {
		t.Errorf("zero days: %v, want bad input", err)
	}
	created, err := b.robots.CreateToken(b.dev, robot.TokenInput{Name: "ci", Scopes: []string{"repository:pull"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Secret) < 40 || string(created.Token.TokenHash) != string(auth.HashSecret(created.Secret)) {
		t.Fatal("the token's secret is missing or kept in the clear")
	}
	if _, err := b.robots.CreateToken(b.dev, robot.TokenInput{Name: "ci", Scopes: []string{"*"}}); kind(err) != fault.KindConflict {
		t.Errorf("same name twice: %v, want conflict", err)
	}
	b.WaitAudit(t, audit.OpCreate, "api-token", "dev/ci")

	// The token works, and cannot make more tokens.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+created.Secret)
	p, _, err := b.Auth.Authenticate(context.Background(), r)
	if err != nil || p.Name != "dev" {
		t.Fatalf("authenticate with the token: %v %v", p, err)
	}
	if _, err := b.robots.CreateToken(auth.WithPrincipal(context.Background(), p), robot.TokenInput{Name: "more", Scopes: []string{"*"}}); kind(err) != fault.KindForbidden {
		t.Errorf("a token creates a token: %v, want forbidden", err)
	}
	robotCaller := auth.WithPrincipal(context.Background(), &auth.Principal{Kind: auth.KindRobot, Name: "robot$x", RobotID: 1})
	if _, err := b.robots.Tokens(robotCaller, robot.Page{}); kind(err) != fault.KindForbidden {
		t.Errorf("a robot lists tokens: %v, want forbidden", err)
	}
	if _, err := b.robots.Tokens(context.Background(), robot.Page{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("anonymous lists tokens: %v, want unauthenticated", err)
	}
	if _, err := b.robots.RevokeToken(b.owner, created.Token.ID); !fault.IsNotFound(err) {
		t.Errorf("someone else revokes dev's token: %v, want not found", err)
	}
	list, err := b.robots.Tokens(b.dev, robot.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("dev's tokens: %v %v", list, err)
	}
	revoked, err := b.robots.RevokeToken(b.dev, created.Token.ID)
	if err != nil || revoked.RevokedAt == nil {
		t.Fatalf("revoke: %v %v", revoked, err)
	}
	if _, _, err := b.Auth.Authenticate(context.Background(), r); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("a revoked token authenticates: %v", err)
	}
	b.WaitAudit(t, audit.OpDelete, "api-token", "dev/ci")
}
