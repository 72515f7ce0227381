package robot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/apitoken"
	"github.com/berth-registry/berth/fault"
)

// TokenInput is a new personal API token.
type TokenInput struct {
	Name string
	// Scopes are role-table actions (repository:pull, …), or auth.ScopeAll alone.
	Scopes []string
	// ExpiresInDays is the token's lifetime; nil never expires.
	ExpiresInDays *int
}

// CreatedToken is an API token with its secret, which is shown only here: Berth keeps a hash.
type CreatedToken struct {
	Token  *ent.APIToken
	Secret string
}

// userCaller is the caller, who must be a person: only user accounts have API tokens.
func userCaller(ctx context.Context) (*auth.Principal, error) {
	p := auth.PrincipalFrom(ctx)
	if !p.Authenticated() {
		return nil, auth.ErrUnauthenticated
	}
	if p.Kind != auth.KindUser {
		return nil, fault.Forbidden("only user accounts have API tokens")
	}
	return p, nil
}

// CreateToken makes a personal API token for the caller. A token cannot make tokens: the caller
// proves who they are with their password or session.
func (s *Service) CreateToken(ctx context.Context, in TokenInput) (*CreatedToken, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	if p.TokenID != 0 {
		return nil, fault.Forbidden("an API token cannot create API tokens: log in with your password")
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 255 {
		return nil, fault.BadInput("give the token a name of 1 to 255 characters")
	}
	if err := auth.ValidScopes(in.Scopes); err != nil {
		return nil, fault.BadInput("%s", err.Error())
	}
	var expires *time.Time
	if in.ExpiresInDays != nil {
		if *in.ExpiresInDays <= 0 || *in.ExpiresInDays > maxLifetimeDays {
			return nil, fault.BadInput("invalid expiresInDays %d: give 1 to %d, or leave it out for a token that never expires", *in.ExpiresInDays, maxLifetimeDays)
		}
		t := time.Now().AddDate(0, 0, *in.ExpiresInDays)
		expires = &t
	}
	secret, err := auth.NewSecret()
	if err != nil {
		return nil, err
	}
	secret = auth.APITokenPrefix + secret
	t, err := s.db.APIToken.Create().SetUserID(p.UserID).SetName(name).SetScopes(in.Scopes).
		SetNillableExpiresAt(expires).SetTokenHash(auth.HashSecret(secret)).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("you already have an API token named %q", name)
	}
	if err != nil {
		return nil, fmt.Errorf("create API token of %s: %w", p.Name, err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpCreate, ResourceType: "api-token", Resource: p.Name + "/" + name})
	return &CreatedToken{Token: t, Secret: secret}, nil
}

// RevokeToken revokes one of the caller's API tokens; it stops working at once. Revoking a revoked
// token changes nothing.
func (s *Service) RevokeToken(ctx context.Context, id int) (*ent.APIToken, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.db.APIToken.Query().Where(apitoken.ID(id), apitoken.UserID(p.UserID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("API token %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("load API token %d: %w", id, err)
	}
	if t.RevokedAt != nil {
		return t, nil
	}
	if t, err = t.Update().SetRevokedAt(time.Now()).Save(ctx); err != nil {
		return nil, fmt.Errorf("revoke API token %d: %w", id, err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpDelete, ResourceType: "api-token", Resource: p.Name + "/" + t.Name})
	return t, nil
}

// Tokens returns a page of the caller's API tokens, newest first.
func (s *Service) Tokens(ctx context.Context, page Page) ([]*ent.APIToken, error) {
	p, err := userCaller(ctx)
	if err != nil {
		return nil, err
	}
	offset, limit, err := page.bounds()
	if err != nil {
		return nil, err
	}
	tokens, err := s.db.APIToken.Query().Where(apitoken.UserID(p.UserID)).Order(ent.Desc(apitoken.FieldID)).
		Offset(offset).Limit(limit).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list API tokens of %s: %w", p.Name, err)
	}
	return tokens, nil
}
