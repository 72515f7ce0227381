package signature

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/trustedkey"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// maxPEM bounds the text of one trusted key or certificate.
const maxPEM = 16 << 10

// Service is the trust-policy domain service: the keys each project trusts (project admins) and
// the system-wide ones (system administrators), audited; every change queues a re-verification.
type Service struct {
	db       *ent.Client
	auth     *auth.Service
	projects *project.Service
	audit    *audit.Writer
	jobs     *river.Client[pgx.Tx]
}

// NewService returns the trust-policy service.
func NewService(db *ent.Client, authz *auth.Service, projects *project.Service, auditLog *audit.Writer, jobs *river.Client[pgx.Tx]) *Service {
	return &Service{db: db, auth: authz, projects: projects, audit: auditLog, jobs: jobs}
}

// AddInput is a key to trust.
type AddInput struct {
	ProjectID *int // nil: system-wide
	Name      string
	Kind      Kind
	PEM       string
}

// List returns the keys project projectID trusts, its own and the system-wide ones (to anyone who
// may see the project), or, with projectID nil, the system-wide keys (to those who may manage them).
func (s *Service) List(ctx context.Context, projectID *int) ([]*ent.TrustedKey, error) {
	q := s.db.TrustedKey.Query()
	if projectID == nil {
		if err := s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionManageTrustPolicy, ""); err != nil {
			return nil, err
		}
		q = q.Where(trustedkey.ProjectIDIsNil())
	} else {
		if _, err := s.projects.Get(ctx, *projectID, auth.ActionReadProject); err != nil {
			return nil, err
		}
		q = q.Where(trustedkey.Or(trustedkey.ProjectIDIsNil(), trustedkey.ProjectID(*projectID)))
	}
	keys, err := q.Order(ent.Asc(trustedkey.FieldID)).Limit(500).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list trusted keys: %w", err)
	}
	return keys, nil
}

// Add trusts a key, in a project or system-wide, and queues the re-verification of what it may
// now verify.
func (s *Service) Add(ctx context.Context, in AddInput) (*ent.TrustedKey, error) {
	scope, err := s.mayManage(ctx, in.ProjectID)
	if err != nil {
		return nil, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 64 || strings.IndexFunc(in.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return nil, fault.BadInput("a key name must be 1 to 64 printable characters")
	}
	if len(in.PEM) > maxPEM {
		return nil, fault.BadInput("the key is longer than %d bytes: give one PEM public key or certificate", maxPEM)
	}
	_, fp, err := ParseKey(in.Name, in.Kind, in.PEM)
	if err != nil {
		return nil, err
	}
	same := trustedkey.ProjectIDIsNil()
	if in.ProjectID != nil {
		same = trustedkey.ProjectID(*in.ProjectID)
	}
	dup, err := s.db.TrustedKey.Query().Where(same, trustedkey.Fingerprint(fp)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("add trusted key: %w", err)
	}
	if dup != nil {
		return nil, fault.Conflict("this key is already trusted here, as %q", dup.Name)
	}
	k, err := s.db.TrustedKey.Create().SetName(in.Name).SetKind(trustedkey.Kind(in.Kind)).SetPem(strings.TrimSpace(in.PEM) + "\n").
		SetFingerprint(fp).SetNillableProjectID(in.ProjectID).SetCreatedBy(auth.PrincipalFrom(ctx).Name).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("this key is already trusted here")
	}
	if err != nil {
		return nil, fmt.Errorf("add trusted key: %w", err)
	}
	s.audit.Log(ctx, audit.Entry{Project: scope, Operation: audit.OpCreate, ResourceType: "trusted-key", Resource: in.Name + " " + fp})
	return k, s.queue(ctx, in.ProjectID)
}

// Delete stops trusting key id; what it verified is verified again without it.
func (s *Service) Delete(ctx context.Context, id int) error {
	k, err := s.db.TrustedKey.Get(ctx, id)
	if ent.IsNotFound(err) {
		return fault.NotFound(fmt.Sprintf("trusted key %d", id))
	}
	if err != nil {
		return fmt.Errorf("load trusted key %d: %w", id, err)
	}
	scope, err := s.mayManage(ctx, k.ProjectID)
	if fault.IsNotFound(err) {
		return fault.NotFound(fmt.Sprintf("trusted key %d", id))
	}
	if err != nil {
		return err
	}
	if err := s.db.TrustedKey.DeleteOneID(id).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("delete trusted key %d: %w", id, err)
	}
	s.audit.Log(ctx, audit.Entry{Project: scope, Operation: audit.OpDelete, ResourceType: "trusted-key", Resource: k.Name + " " + k.Fingerprint})
	return s.queue(ctx, k.ProjectID)
}

// Reverify queues a re-verification of a project's signed artifacts (or of every project's, nil).
func (s *Service) Reverify(ctx context.Context, projectID *int) error {
	if _, err := s.mayManage(ctx, projectID); err != nil {
		return err
	}
	return s.queue(ctx, projectID)
}

func (s *Service) queue(ctx context.Context, projectID *int) error {
	args := ReverifyArgs{}
	if projectID != nil {
		args.ProjectID = *projectID
	}
	if _, err := s.jobs.Insert(ctx, args, nil); err != nil {
		return fmt.Errorf("the key is saved, but its re-verification could not be queued (ask again with reverifySignatures): %w", err)
	}
	return nil
}

// mayManage checks the caller may manage project projectID's keys (nil: the system-wide ones) and
// returns the project's name ("" for the system).
func (s *Service) mayManage(ctx context.Context, projectID *int) (string, error) {
	if projectID == nil {
		return "", s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, auth.ActionManageTrustPolicy, "")
	}
	proj, err := s.projects.Get(ctx, *projectID, auth.ActionManageTrustPolicy)
	if err != nil {
		return "", err
	}
	return proj.Name, nil
}
