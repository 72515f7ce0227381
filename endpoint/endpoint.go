// Package endpoint owns registry endpoints: the remote registries (Berth, Harbor, any OCI
// Distribution registry, Docker Hub) that replication copies to and from and that proxy-cache
// projects pull through to. It keeps their credentials sealed at rest (Sealer), never hands them
// back through any API, checks every URL against the egress policy when it is saved and on every
// connection, and answers "test connection" in plain words (Ping). It builds the clients
// replication and the pull-through use (Remote); it does not
// copy anything itself, and it does not decide who may replicate what beyond its own actions.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/registryendpoint"
	"github.com/berth-registry/berth/ent/replicationpolicy"
	"github.com/berth-registry/berth/fault"
)

// sealPurpose is authenticated with every sealed credential.
const sealPurpose = "registry-endpoint-credential"

// MaxPage is the most endpoints one List returns.
const MaxPage = 100

// Service is the registry endpoint domain service.
type Service struct {
	db       *ent.Client
	auth     *auth.Service
	audit    *audit.Writer
	egress   *egress.Policy
	sealer   *Sealer
	resolver egress.Resolver
}

// New returns the endpoint service. Outgoing requests obey policy; credentials are sealed with
// sealer.
func New(db *ent.Client, authz *auth.Service, auditLog *audit.Writer, policy *egress.Policy, sealer *Sealer) *Service {
	return &Service{db: db, auth: authz, audit: auditLog, egress: policy, sealer: sealer}
}

// Input is what an administrator says about an endpoint. AccessSecret nil on update keeps the
// stored secret; "" clears it.
type Input struct {
	Name           string
	Description    string
	Type           registryendpoint.Type
	URL            string
	CredentialType registryendpoint.CredentialType
	AccessKey      string
	AccessSecret   *string
	Insecure       bool
}

func (s *Service) check(ctx context.Context, action auth.Action) error {
	return s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, action, "registry endpoints")
}

// validate checks in and normalises its URL.
func (s *Service) validate(ctx context.Context, in *Input) error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 255 {
		return fault.BadInput("give the endpoint a name of 1 to 255 characters")
	}
	if len(in.Description) > 1024 {
		return fault.BadInput("the description is longer than 1024 characters")
	}
	if err := registryendpoint.TypeValidator(in.Type); err != nil {
		return fault.BadInput("unknown endpoint type %q: use berth, harbor, docker-registry or docker-hub", in.Type)
	}
	if in.CredentialType == "" {
		in.CredentialType = registryendpoint.CredentialTypeNone
	}
	if err := registryendpoint.CredentialTypeValidator(in.CredentialType); err != nil {
		return fault.BadInput("unknown credential type %q: use none, basic, bearer or robot_secret", in.CredentialType)
	}
	if in.Type == registryendpoint.TypeDockerHub && strings.TrimSpace(in.URL) == "" {
		in.URL = "https://registry-1.docker.io"
	}
	u, err := url.Parse(strings.TrimSpace(in.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fault.BadInput("the URL must be http(s)://host[:port] with nothing after the host (and no user:password in it: use the credential)")
	}
	in.URL = u.Scheme + "://" + u.Host
	if err := s.egress.Check(ctx, s.resolver, in.URL); err != nil {
		return fault.BadInput("%s", err.Error())
	}
	switch in.CredentialType {
	case registryendpoint.CredentialTypeBasic, registryendpoint.CredentialTypeRobotSecret:
		if in.AccessKey == "" {
			return fault.BadInput("a %s credential needs an access key (the user or robot name)", in.CredentialType)
		}
	case registryendpoint.CredentialTypeNone:
		in.AccessKey = ""
		empty := ""
		in.AccessSecret = &empty
	}
	return nil
}

// List returns a page of endpoints (limit at most MaxPage) whose name contains q, and the total.
func (s *Service) List(ctx context.Context, q string, offset, limit int) ([]*ent.RegistryEndpoint, int, error) {
	if err := s.check(ctx, auth.ActionReadRegistries); err != nil {
		return nil, 0, err
	}
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	query := s.db.RegistryEndpoint.Query()
	if q != "" {
		query = query.Where(registryendpoint.NameContains(q))
	}
	total, err := query.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count registry endpoints: %w", err)
	}
	list, err := query.Order(ent.Asc(registryendpoint.FieldID)).Offset(max(offset, 0)).Limit(limit).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list registry endpoints: %w", err)
	}
	return list, total, nil
}

// Get returns endpoint id.
func (s *Service) Get(ctx context.Context, id int) (*ent.RegistryEndpoint, error) {
	if err := s.check(ctx, auth.ActionReadRegistries); err != nil {
		return nil, err
	}
	return s.load(ctx, id)
}

func (s *Service) load(ctx context.Context, id int) (*ent.RegistryEndpoint, error) {
	ep, err := s.db.RegistryEndpoint.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("registry endpoint %d", id))
	}
	if err != nil {
		return nil, fmt.Errorf("load registry endpoint %d: %w", id, err)
	}
	return ep, nil
}

// Create registers an endpoint.
func (s *Service) Create(ctx context.Context, in Input) (*ent.RegistryEndpoint, error) {
	if err := s.check(ctx, auth.ActionManageRegistries); err != nil {
		return nil, err
	}
	if err := s.validate(ctx, &in); err != nil {
		return nil, err
	}
	c := s.db.RegistryEndpoint.Create().SetName(in.Name).SetDescription(in.Description).SetType(in.Type).
		SetURL(in.URL).SetCredentialType(in.CredentialType).SetAccessKey(in.AccessKey).SetInsecure(in.Insecure)
	if in.AccessSecret != nil && *in.AccessSecret != "" {
		c.SetAccessSecretSealed(s.sealer.Seal([]byte(*in.AccessSecret), sealPurpose))
	}
	ep, err := c.Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("a registry endpoint named %q already exists", in.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create registry endpoint: %w", err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpCreate, ResourceType: "registry", Resource: ep.Name})
	return ep, nil
}

// Update changes endpoint id.
func (s *Service) Update(ctx context.Context, id int, in Input) (*ent.RegistryEndpoint, error) {
	if err := s.check(ctx, auth.ActionManageRegistries); err != nil {
		return nil, err
	}
	if _, err := s.load(ctx, id); err != nil {
		return nil, err
	}
	if err := s.validate(ctx, &in); err != nil {
		return nil, err
	}
	u := s.db.RegistryEndpoint.UpdateOneID(id).SetName(in.Name).SetDescription(in.Description).SetType(in.Type).
		SetURL(in.URL).SetCredentialType(in.CredentialType).SetAccessKey(in.AccessKey).SetInsecure(in.Insecure)
	if in.AccessSecret != nil {
		if *in.AccessSecret == "" {
			u.ClearAccessSecretSealed()
		} else {
			u.SetAccessSecretSealed(s.sealer.Seal([]byte(*in.AccessSecret), sealPurpose))
		}
	}
	ep, err := u.Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("a registry endpoint named %q already exists", in.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("update registry endpoint %d: %w", id, err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "registry", Resource: ep.Name})
	return ep, nil
}

// Delete removes endpoint id; one that a replication policy or a proxy-cache project uses is kept.
func (s *Service) Delete(ctx context.Context, id int) error {
	if err := s.check(ctx, auth.ActionManageRegistries); err != nil {
		return err
	}
	ep, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if n, err := s.db.ReplicationPolicy.Query().Where(replicationpolicy.RegistryID(id)).Count(ctx); err != nil {
		return fmt.Errorf("registry endpoint %d: count its policies: %w", id, err)
	} else if n > 0 {
		return fault.Conflict("registry endpoint %q is used by %d replication policies: delete or change them first", ep.Name, n)
	}
	if n, err := s.db.Project.Query().Where(project.ProxyRegistryID(id)).Count(ctx); err != nil {
		return fmt.Errorf("registry endpoint %d: count its proxy-cache projects: %w", id, err)
	} else if n > 0 {
		return fault.Conflict("registry endpoint %q is the upstream of %d proxy-cache projects", ep.Name, n)
	}
	if err := s.db.RegistryEndpoint.DeleteOneID(id).Exec(ctx); err != nil {
		if ent.IsConstraintError(err) {
			return fault.Conflict("registry endpoint %q is still in use", ep.Name)
		}
		return fmt.Errorf("delete registry endpoint %d: %w", id, err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpDelete, ResourceType: "registry", Resource: ep.Name})
	return nil
}

// Credential is an endpoint's credential, unsealed.
type Credential struct {
	Type   registryendpoint.CredentialType
	Key    string
	Secret string
}

// credential unseals ep's credential.
func (s *Service) credential(ep *ent.RegistryEndpoint) (Credential, error) {
	c := Credential{Type: ep.CredentialType, Key: ep.AccessKey}
	if len(ep.AccessSecretSealed) > 0 {
		plain, err := s.sealer.Open(ep.AccessSecretSealed, sealPurpose)
		if err != nil {
			return c, fmt.Errorf("registry endpoint %q: %w", ep.Name, err)
		}
		c.Secret = string(plain)
	}
	return c, nil
}

// Ping tests the connection to endpoint id (with in's changes, if not nil, not yet saved: a
// secret left nil in it is the stored one). Nil means the registry answered and accepted the
// credential; otherwise the error says in plain words what failed.
func (s *Service) Ping(ctx context.Context, id int, in *Input) error {
	if err := s.check(ctx, auth.ActionManageRegistries); err != nil {
		return err
	}
	ep := &ent.RegistryEndpoint{}
	var cred Credential
	if id != 0 {
		stored, err := s.load(ctx, id)
		if err != nil {
			return err
		}
		if cred, err = s.credential(stored); err != nil {
			return err
		}
		ep = stored
	}
	if in != nil {
		if in.Name == "" {
			in.Name = ep.Name
			if in.Name == "" {
				in.Name = "test"
			}
		}
		if err := s.validate(ctx, in); err != nil {
			return err
		}
		ep = &ent.RegistryEndpoint{Name: in.Name, Type: in.Type, URL: in.URL, CredentialType: in.CredentialType,
			AccessKey: in.AccessKey, Insecure: in.Insecure}
		cred.Type, cred.Key = in.CredentialType, in.AccessKey
		if in.AccessSecret != nil {
			cred.Secret = *in.AccessSecret
		}
	}
	if ep.URL == "" {
		return fault.BadInput("give an endpoint id or a URL to test")
	}
	if err := ping(ctx, s.egress, ep, cred); err != nil {
		var pe *PingError
		if errors.As(err, &pe) {
			return fault.BadInput("%s", pe.Error())
		}
		return err
	}
	return nil
}

// Remote returns a client for endpoint id, for replication and the registry's pull-through (which
// authorize their own callers).
func (s *Service) Remote(ctx context.Context, id int) (*Remote, error) {
	ep, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	cred, err := s.credential(ep)
	if err != nil {
		return nil, err
	}
	return newRemote(ep, cred, s.egress)
}
