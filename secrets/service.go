package secrets

import (
	"context"
	"time"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
)

// Auditor is the part of the audit log the service writes to.
type Auditor interface {
	Log(ctx context.Context, e audit.Entry)
}

// Service is key rotation as an operation: who may rotate (auth.ActionRotateSigningKey, system
// administrators), and the audit entry each rotation leaves. GraphQL and `berth admin
// rotate-signing-key` both come here.
type Service struct {
	store *Store
	auth  *auth.Service
	audit Auditor
}

// NewService is rotation on store, checked by authz and recorded in auditLog.
func NewService(store *Store, authz *auth.Service, auditLog Auditor) *Service {
	return &Service{store: store, auth: authz, audit: auditLog}
}

// RotateSigningKey makes a new token-signing key the one that signs, for the principal in ctx.
func (s *Service) RotateSigningKey(ctx context.Context) (Key, error) {
	if err := s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionRotateSigningKey, ""); err != nil {
		return Key{}, err
	}
	return s.rotate(ctx, "")
}

// RotateSigningKeyAsOperator is RotateSigningKey for whoever runs the command line on a host with
// the database's credentials: no principal to check, audited under who.
func (s *Service) RotateSigningKeyAsOperator(ctx context.Context, who string) (Key, error) {
	return s.rotate(ctx, who)
}

func (s *Service) rotate(ctx context.Context, who string) (Key, error) {
	k, err := s.store.Rotate(ctx)
	if err != nil {
		return Key{}, err
	}
	s.audit.Log(ctx, audit.Entry{User: who, Operation: audit.OpCreate, ResourceType: "signing_key", Resource: k.ID})
	return k, nil
}

// SigningKeys lists the signing keys that still verify tokens, newest (the signing one) first.
func (s *Service) SigningKeys(ctx context.Context) ([]Key, error) {
	if err := s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionRotateSigningKey, ""); err != nil {
		return nil, err
	}
	return s.store.Keys(), nil
}

// Refresh is how long replicas may take to sign with a new key.
func (s *Service) Refresh() time.Duration { return s.store.Refresh() }
