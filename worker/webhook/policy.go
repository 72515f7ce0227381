package webhook

import (
	"context"
	"fmt"
	"slices"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/webhookpolicy"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
)

// MaxPolicies is the most webhook policies one list returns.
const MaxPolicies = 100

// minSecretLength is the shortest signing secret a caller may choose.
const minSecretLength = 16

// Policies is the webhook policy domain service: who may see and change a project's policies
// (webhook-policy:list and webhook-policy:create in the project), what a policy must hold (a
// name, event types a project's policy can receive, an address the egress policy allows, a
// signing secret shown once), test deliveries, and the audit of every change. GraphQL is a thin
// adapter over it; sending deliveries is Service's and Worker's.
type Policies struct {
	db         *ent.Client
	projects   *project.Service
	egress     *egress.Policy
	audit      *audit.Writer
	deliveries *Service
}

// NewPolicies returns the policy service; deliveries sends its test events.
func NewPolicies(db *ent.Client, projects *project.Service, egressPolicy *egress.Policy, auditLog *audit.Writer, deliveries *Service) *Policies {
	return &Policies{db: db, projects: projects, egress: egressPolicy, audit: auditLog, deliveries: deliveries}
}

// PolicyInput is a new policy.
type PolicyInput struct {
	ProjectID      int
	Name           string
	Description    *string
	Enabled        *bool
	EventTypes     []event.Type
	Address        string
	AuthHeader     *string
	SkipCertVerify *bool
	PayloadFormat  *webhookpolicy.PayloadFormat
	// Secret is the HMAC-SHA256 key of X-Berth-Signature-256; generated when nil.
	Secret *string
}

// PolicyUpdate changes a policy; nil fields (and nil EventTypes) stay as they are.
type PolicyUpdate struct {
	Name           *string
	Description    *string
	Enabled        *bool
	EventTypes     []event.Type
	Address        *string
	AuthHeader     *string
	SkipCertVerify *bool
	PayloadFormat  *webhookpolicy.PayloadFormat
}

// CreatedPolicy is a policy with its signing secret, which is shown only here.
type CreatedPolicy struct {
	Policy *ent.WebhookPolicy
	Secret string
}

// Create makes a policy in a project whose webhooks the caller may manage.
func (s *Policies) Create(ctx context.Context, in PolicyInput) (*CreatedPolicy, error) {
	proj, err := s.projects.Get(ctx, in.ProjectID, auth.ActionManageWebhooks)
	if err != nil {
		return nil, err
	}
	if err := s.validate(ctx, in.Name, in.Address, in.EventTypes, nil); err != nil {
		return nil, err
	}
	secret := NewSecret()
	if in.Secret != nil {
		if len(*in.Secret) < minSecretLength {
			return nil, fault.BadInput("a webhook secret must be at least %d characters long", minSecretLength)
		}
		secret = *in.Secret
	}
	p, err := s.db.WebhookPolicy.Create().SetProjectID(proj.ID).SetName(in.Name).
		SetNillableDescription(in.Description).SetNillableEnabled(in.Enabled).SetEventTypes(in.EventTypes).
		SetAddress(in.Address).SetNillableAuthHeader(in.AuthHeader).SetNillableSkipCertVerify(in.SkipCertVerify).
		SetNillablePayloadFormat(in.PayloadFormat).SetSecret(secret).Save(ctx)
	if err = saveError(err, in.Name); err != nil {
		return nil, err
	}
	s.log(ctx, audit.OpCreate, proj, p)
	return &CreatedPolicy{Policy: p, Secret: secret}, nil
}

// Update changes a policy whose project's webhooks the caller may manage. An event type a
// project's policy can no longer receive may stay if the policy had it.
func (s *Policies) Update(ctx context.Context, id int, in PolicyUpdate) (*ent.WebhookPolicy, error) {
	p, err := s.load(ctx, id, auth.ActionManageWebhooks)
	if err != nil {
		return nil, err
	}
	name, address, types := p.Name, p.Address, p.EventTypes
	if in.Name != nil {
		name = *in.Name
	}
	if in.Address != nil {
		address = *in.Address
	}
	if in.EventTypes != nil {
		types = in.EventTypes
	}
	if err := s.validate(ctx, name, address, types, p.EventTypes); err != nil {
		return nil, err
	}
	proj := p.Edges.Project
	p, err = p.Update().SetName(name).SetAddress(address).SetEventTypes(types).
		SetNillableDescription(in.Description).SetNillableEnabled(in.Enabled).
		SetNillableAuthHeader(in.AuthHeader).SetNillableSkipCertVerify(in.SkipCertVerify).
		SetNillablePayloadFormat(in.PayloadFormat).Save(ctx)
	if err = saveError(err, name); err != nil {
		return nil, err
	}
	s.log(ctx, audit.OpUpdate, proj, p)
	return p, nil
}

// Delete removes a policy, and its delivery history, from a project whose webhooks the caller
// may manage.
func (s *Policies) Delete(ctx context.Context, id int) error {
	p, err := s.load(ctx, id, auth.ActionManageWebhooks)
	if err != nil {
		return err
	}
	if err := s.db.WebhookPolicy.DeleteOne(p).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("delete webhook policy %d: %w", id, err)
	}
	s.log(ctx, audit.OpDelete, p.Edges.Project, p)
	return nil
}

// Test queues a sample ARTIFACT_PUSHED event to the policy's address and returns the delivery to
// watch.
func (s *Policies) Test(ctx context.Context, id int) (*ent.WebhookDelivery, error) {
	p, err := s.load(ctx, id, auth.ActionManageWebhooks)
	if err != nil {
		return nil, err
	}
	return s.deliveries.SendTest(ctx, p, p.Edges.Project.Name, auth.PrincipalFrom(ctx).Name)
}

// List is a project's policies by name (webhook-policy:list), at most MaxPolicies.
func (s *Policies) List(ctx context.Context, projectID int) ([]*ent.WebhookPolicy, error) {
	if _, err := s.projects.Get(ctx, projectID, auth.ActionListWebhooks); err != nil {
		return nil, err
	}
	out, err := s.db.WebhookPolicy.Query().Where(webhookpolicy.ProjectID(projectID)).
		Order(ent.Asc(webhookpolicy.FieldName), ent.Asc(webhookpolicy.FieldID)).Limit(MaxPolicies).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list webhook policies of project %d: %w", projectID, err)
	}
	return out, nil
}

// Get is the policy with id, with its project, if the caller may list its project's policies; a
// policy the caller may not see is not found.
func (s *Policies) Get(ctx context.Context, id int) (*ent.WebhookPolicy, error) {
	return s.load(ctx, id, auth.ActionListWebhooks)
}

// load loads a policy with its project and checks action in the project.
func (s *Policies) load(ctx context.Context, id int, action auth.Action) (*ent.WebhookPolicy, error) {
	p, err := s.db.WebhookPolicy.Query().Where(webhookpolicy.ID(id)).WithProject().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("webhook policy %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("load webhook policy %d: %w", id, err)
	}
	if err := s.projects.Authorize(ctx, p.Edges.Project, action); err != nil {
		return nil, err
	}
	return p, nil
}

// validate checks what a policy must have: a name, at least one event type a project's policy
// can receive (or that it had before: had), and an address the egress policy allows. The message
// never repeats credentials in the address.
func (s *Policies) validate(ctx context.Context, name, address string, types, had []event.Type) error {
	if name == "" || len(name) > 255 {
		return fault.BadInput("a webhook policy name must be 1 to 255 characters long")
	}
	if len(types) == 0 {
		return fault.BadInput("choose at least one event type")
	}
	for _, t := range types {
		// A policy saved before this check may list such a type: editing it keeps it.
		if !t.ForWebhooks() && !slices.Contains(had, t) {
			return fault.BadInput("a project's webhooks cannot receive %s events: they belong to no project", t)
		}
	}
	if len(address) > 2048 {
		return fault.BadInput("a webhook target may be at most 2048 characters long")
	}
	if err := s.egress.Check(ctx, nil, address); err != nil {
		return fault.BadInput("webhook target %s", err.Error())
	}
	return nil
}

// saveError is the caller's error for a failed save of the policy named name, nil if it saved.
func saveError(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case ent.IsConstraintError(err):
		return fault.Conflict("this project already has a webhook policy named %q", name)
	case ent.IsValidationError(err):
		return fault.BadInput("a webhook policy's description may be at most 1024 characters long")
	default:
		return fmt.Errorf("save webhook policy %q: %w", name, err)
	}
}

// log records a policy change: resource "<project>/<policy name>".
func (s *Policies) log(ctx context.Context, op string, proj *ent.Project, p *ent.WebhookPolicy) {
	s.audit.Log(ctx, audit.Entry{Project: proj.Name, Operation: op, ResourceType: "webhook", Resource: proj.Name + "/" + p.Name})
}
