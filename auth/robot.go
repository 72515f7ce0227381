package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/apitoken"
	"github.com/berth-registry/berth/ent/robot"
	"github.com/berth-registry/berth/ent/schema"
)

// RobotPrefix starts every robot account's name, as in Harbor: robot$<name> for a system robot,
// robot$<project>+<name> for a project robot.
const RobotPrefix = "robot$"

// APITokenPrefix starts every personal API token, so that a token is told from a JWT or a password
// without a database lookup, and secret scanners can recognise a leaked one.
const APITokenPrefix = "berth_pat_"

// ScopeAll is the API token scope that keeps everything the user may do, system administration
// included.
const ScopeAll = "*"

// robotNameRE is Harbor's rule for the part of a robot name the creator chooses.
var robotNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// RobotName returns the login name of a robot called name: robot$<name>, or robot$<project>+<name>
// when project is not "". It refuses names that break Harbor's rules.
func RobotName(project, name string) (string, error) {
	if len(name) > 128 || !robotNameRE.MatchString(name) {
		return "", fmt.Errorf("invalid robot name %q: use lower-case letters and digits, separated by single '.', '_' or '-'", name)
	}
	if project == "" {
		return RobotPrefix + name, nil
	}
	return RobotPrefix + project + "+" + name, nil
}

// NewSecret returns a random 256-bit secret, URL-safe base64 encoded.
func NewSecret() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// HashSecret is what Berth stores of a robot secret or API token: SHA-256, enough for 256 random
// bits, and fast enough to check on every request.
func HashSecret(secret string) []byte { return hashToken(secret) }

// fingerprint names one secret of a credential inside the tokens issued for it, so that refreshing
// a robot's secret also ends the registry tokens the old secret obtained.
func fingerprint(hash []byte) string {
	if len(hash) < 8 {
		return ""
	}
	return hex.EncodeToString(hash[:8])
}

// PermissionAction is the role-table action a robot permission names, and whether there is one.
func PermissionAction(p schema.RobotPermission) (Action, bool) {
	a := Action(p.Resource + ":" + p.Action)
	return a, IsProjectAction(a)
}

// robotActive reports whether a robot may authenticate now.
func robotActive(rb *ent.Robot, now time.Time) bool {
	return !rb.Disabled && (rb.ExpiresAt == nil || rb.ExpiresAt.After(now))
}

// tokenActive reports whether an API token may authenticate now.
func tokenActive(t *ent.APIToken, now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || t.ExpiresAt.After(now))
}

func robotPrincipal(rb *ent.Robot) *Principal {
	p := &Principal{Kind: KindRobot, Name: rb.Name, RobotID: rb.ID, Permissions: rb.Permissions,
		credential: fingerprint(rb.SecretHash)}
	if rb.ProjectID != nil {
		p.RobotProjectID = *rb.ProjectID
	}
	return p
}

// robotLogin checks a robot's name and secret. Every failure is ErrBadCredentials.
func (s *Service) robotLogin(ctx context.Context, name, secret string) (*Principal, error) {
	rb, err := s.db.Robot.Query().Where(robot.Name(name)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("look up robot: %w", err)
	}
	if subtle.ConstantTimeCompare(rb.SecretHash, HashSecret(secret)) != 1 || !robotActive(rb, time.Now()) {
		return nil, ErrBadCredentials
	}
	s.usage.robot(rb.ID)
	return robotPrincipal(rb), nil
}

// robotFromToken reloads the robot a registry or identity token was issued to, so that a robot
// disabled, expired, deleted or given a new secret since is refused from the next request on.
func (s *Service) robotFromToken(ctx context.Context, claims *Claims) (*Principal, error) {
	rb, err := s.db.Robot.Get(ctx, claims.RobotID)
	if ent.IsNotFound(err) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up token robot: %w", err)
	}
	if !robotActive(rb, time.Now()) || rb.Name != claims.Subject || fingerprint(rb.SecretHash) != claims.Credential {
		return nil, ErrInvalidToken
	}
	s.usage.robot(rb.ID)
	return robotPrincipal(rb), nil
}

// apiTokenLogin checks a personal API token and returns its user's principal, limited to the
// token's scopes. A revoked, expired or unknown token, or a disabled user, is ErrInvalidToken.
func (s *Service) apiTokenLogin(ctx context.Context, secret string) (*Principal, error) {
	t, err := s.db.APIToken.Query().Where(apitoken.TokenHash(HashSecret(secret))).WithUser().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up API token: %w", err)
	}
	return s.tokenPrincipal(t)
}

// apiTokenFromClaims reloads the API token a registry or identity token was obtained with.
func (s *Service) apiTokenFromClaims(ctx context.Context, claims *Claims) (*Principal, error) {
	t, err := s.db.APIToken.Query().Where(apitoken.ID(claims.TokenID)).WithUser().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up API token: %w", err)
	}
	if t.UserID != claims.UserID || (t.Edges.User != nil && claims.issuedBefore(t.Edges.User.CredentialsChangedAt)) {
		return nil, ErrInvalidToken
	}
	return s.tokenPrincipal(t)
}

func (s *Service) tokenPrincipal(t *ent.APIToken) (*Principal, error) {
	u := t.Edges.User
	if !tokenActive(t, time.Now()) || u == nil || u.Disabled {
		return nil, ErrInvalidToken
	}
	s.usage.token(t.ID)
	p := userPrincipal(u)
	p.TokenID = t.ID
	all := false
	for _, sc := range t.Scopes {
		if sc == ScopeAll {
			all = true
			break
		}
		p.Scopes = append(p.Scopes, Action(sc))
	}
	if all {
		p.Scopes = nil
	} else {
		// A scoped token never carries system administration: its scopes are project actions.
		p.Admin = false
		if p.Scopes == nil {
			p.Scopes = []Action{}
		}
	}
	return p, nil
}

// ValidScopes checks API token scopes: "*" alone, or role-table actions.
func ValidScopes(scopes []string) error {
	if len(scopes) == 0 {
		return fmt.Errorf("give the token at least one scope: a role-table action such as %s, or %s", ActionPull, ScopeAll)
	}
	for _, sc := range scopes {
		if sc == ScopeAll {
			if len(scopes) > 1 {
				return fmt.Errorf("scope %s already covers every action: give it alone", ScopeAll)
			}
			continue
		}
		if !IsProjectAction(Action(sc)) {
			return fmt.Errorf("unknown scope %q: use a role-table action (%s, %s, …) or %s", sc, ActionPull, ActionPush, ScopeAll)
		}
	}
	return nil
}

// robotActions is what a robot's permissions give it in the project with id projectID, nil if
// nothing. A project robot reaches its own project only, whatever its list says. A robot that
// may do anything in a project may also see it.
func robotActions(p *Principal, projectID int) map[Action]bool {
	if p.RobotProjectID != 0 && p.RobotProjectID != projectID {
		return nil
	}
	var out map[Action]bool
	for _, perm := range p.Permissions {
		if perm.ProjectID != projectID && (perm.Namespace != "*" || p.RobotProjectID != 0) {
			continue
		}
		a, ok := PermissionAction(perm)
		if !ok {
			continue
		}
		if out == nil {
			out = map[Action]bool{ActionReadProject: true}
		}
		out[a] = true
	}
	return out
}

// robotProjects lists the projects a robot's permissions name, and whether they cover every project.
func robotProjects(p *Principal) (ids []int, all bool) {
	for _, perm := range p.Permissions {
		if _, ok := PermissionAction(perm); !ok {
			continue
		}
		switch {
		case perm.Namespace == "*" && p.RobotProjectID == 0:
			return nil, true
		case perm.ProjectID != 0 && (p.RobotProjectID == 0 || perm.ProjectID == p.RobotProjectID):
			ids = append(ids, perm.ProjectID)
		}
	}
	return ids, false
}

// IsRobotName reports whether a login name is a robot's.
func IsRobotName(name string) bool { return strings.HasPrefix(name, RobotPrefix) }

// CheckManageRobot returns nil if p may manage rb (refresh its secret, enable or disable it, change
// its permissions or lifetime, delete it), else the error to report. Managing a robot hands its
// powers to the manager (a refreshed secret is a login as the robot), so the manager must already
// hold every permission the robot has, in every project it covers: a robot with robot:create and
// pull cannot take over a robot that pushes. System robots are managed by system administrators
// only. Every surface (GraphQL and REST) asks this one function.
func (s *Service) CheckManageRobot(ctx context.Context, p *Principal, rb *ent.Robot) error {
	if rb.ProjectID == nil {
		return s.Check(ctx, p, System, ActionManageRobots, "robot "+rb.Name)
	}
	projects := map[int]Access{}
	access := func(id int) (Access, error) {
		if a, ok := projects[id]; ok {
			return a, nil
		}
		proj, err := s.db.Project.Get(ctx, id)
		if err != nil {
			return Access{}, fmt.Errorf("robot %s: load project %d: %w", rb.Name, id, err)
		}
		a, err := s.Access(ctx, p, proj)
		if err != nil {
			return Access{}, err
		}
		projects[id] = a
		return a, nil
	}
	a, err := access(*rb.ProjectID)
	if err != nil {
		return err
	}
	if !a.Allows(ActionManageRobots) {
		return Denied(p)
	}
	for _, perm := range rb.Permissions {
		action, ok := PermissionAction(perm)
		if !ok {
			continue
		}
		id := perm.ProjectID
		if id == 0 {
			id = *rb.ProjectID
		}
		a, err := access(id)
		if err != nil {
			return err
		}
		if !a.Allows(action) {
			return fmt.Errorf("%w: robot %s may %s, which you may not: only someone who holds every permission of a robot may manage it",
				Denied(p), rb.Name, action)
		}
	}
	return nil
}
