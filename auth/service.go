package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/ent/predicate"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/session"
	"github.com/berth-registry/berth/ent/user"
)

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "berth_session"

// Service authenticates requests and answers permission questions against the database.
type Service struct {
	db         *ent.Client
	tokens     *Tokens
	sessionTTL time.Duration
	usage      usage
	throttle   *throttle
	onFailure  LoginAuditor
}

// LoginAuditor records a password login that failed (throttled: refused unchecked because the
// account or address failed too often). The composition root points it at the audit log.
type LoginAuditor func(ctx context.Context, username string, throttled bool)

// NewService returns a Service over db that verifies tokens with tokens, throttling failed
// logins by DefaultThrottleLimits.
func NewService(db *ent.Client, tokens *Tokens, sessionTTL time.Duration) *Service {
	return &Service{db: db, tokens: tokens, sessionTTL: sessionTTL, throttle: newThrottle(DefaultThrottleLimits)}
}

// SetThrottleLimits replaces the failed-login limits (and forgets the failures counted so far).
// Call it before serving.
func (s *Service) SetThrottleLimits(l ThrottleLimits) { s.throttle = newThrottle(l) }

// AuditLogins has every failed or throttled password login reported to fn. Call it before serving.
func (s *Service) AuditLogins(fn LoginAuditor) { s.onFailure = fn }

// Tokens returns the token signer.
func (s *Service) Tokens() *Tokens { return s.tokens }

// Login checks a username and password. Unknown users, wrong passwords and disabled accounts all
// get ErrBadCredentials, in about the same time, so a caller cannot tell which it was. It is the
// one password check of every door, so it is where guessing is throttled: an account or a client
// address (from the context, WithSourceIP) that failed too often lately gets a *ThrottledError,
// without its password being looked at, until its bucket refills. Failures are counted in metrics
// and reported to the LoginAuditor.
func (s *Service) Login(ctx context.Context, username, password string) (*Principal, error) {
	address, now := SourceIPFrom(ctx), time.Now()
	if err := s.throttle.check(username, address, now); err != nil {
		s.auditFailure(ctx, username, true)
		return nil, err
	}
	p, err := s.checkPassword(ctx, username, password)
	switch {
	case errors.Is(err, ErrBadCredentials):
		s.throttle.fail(username, address, now)
		s.auditFailure(ctx, username, false)
	case err == nil:
		s.throttle.succeed(username)
	}
	return p, err
}

func (s *Service) auditFailure(ctx context.Context, username string, throttled bool) {
	if s.onFailure != nil {
		s.onFailure(ctx, username, throttled)
	}
}

func (s *Service) checkPassword(ctx context.Context, username, password string) (*Principal, error) {
	u, err := s.db.User.Query().Where(user.Username(username)).Only(ctx)
	if ent.IsNotFound(err) {
		checkPassword(string(dummyHash), password)
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, Unavailable(fmt.Errorf("look up user: %w", err))
	}
	if !checkPassword(u.PasswordHash, password) || u.Disabled {
		return nil, ErrBadCredentials
	}
	return userPrincipal(u), nil
}

func userPrincipal(u *ent.User) *Principal {
	return &Principal{Kind: KindUser, UserID: u.ID, Name: u.Username, Admin: u.Admin}
}

// StartSession creates a session for a logged-in user and returns the cookie to set.
func (s *Service) StartSession(ctx context.Context, p *Principal, secure bool) (*http.Cookie, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	expires := time.Now().Add(s.sessionTTL)
	err := s.db.Session.Create().SetUserID(p.UserID).SetTokenHash(hashToken(token)).SetExpiresAt(expires).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("store session: %w", err)
	}
	if err := s.db.User.UpdateOneID(p.UserID).SetLastLoginAt(time.Now()).Exec(ctx); err != nil {
		return nil, fmt.Errorf("record login time: %w", err)
	}
	return &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	}, nil
}

// EndSession deletes the session named by the request's cookie and returns a cookie that clears it.
func (s *Service) EndSession(ctx context.Context, r *http.Request) (*http.Cookie, error) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if _, err := s.db.Session.Delete().Where(session.TokenHash(hashToken(c.Value))).Exec(ctx); err != nil {
			return nil, fmt.Errorf("delete session: %w", err)
		}
	}
	return &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode}, nil
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Authenticate works out who sent r, from (in this order) an Authorization header, Basic or
// Bearer, or the session cookie. No credentials at all is Anonymous, not an error; credentials
// that do not check out are ErrBadCredentials or ErrInvalidToken. A Bearer token's claims are
// returned too, so the registry can honour the token's scope. Credentials that could not be
// checked because the database is down are ErrUnavailable, never a credentials error.
func (s *Service) Authenticate(ctx context.Context, r *http.Request) (*Principal, *Claims, error) {
	p, claims, err := s.authenticate(ctx, r)
	if err == nil && claims != nil {
		// The principal carries the token it proved itself with: Decide honours its scope.
		withClaims := *p
		withClaims.claims = claims
		p = &withClaims
	}
	return p, claims, Unavailable(err)
}

func (s *Service) authenticate(ctx context.Context, r *http.Request) (*Principal, *Claims, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, _ := strings.Cut(h, " ")
		switch strings.ToLower(scheme) {
		case "basic":
			username, password, ok := r.BasicAuth()
			if !ok {
				return nil, nil, ErrBadCredentials
			}
			switch {
			case IsRobotName(username):
				p, err := s.robotLogin(ctx, username, password)
				return p, nil, err
			case strings.HasPrefix(password, APITokenPrefix):
				// A personal API token in place of the password, as `docker login` sends it.
				p, err := s.apiTokenLogin(ctx, password)
				if err == nil && p.Name != username {
					return nil, nil, ErrBadCredentials
				}
				if errors.Is(err, ErrInvalidToken) {
					err = ErrBadCredentials
				}
				return p, nil, err
			}
			p, err := s.Login(ctx, username, password)
			return p, nil, err
		case "bearer":
			value = strings.TrimSpace(value)
			if strings.HasPrefix(value, APITokenPrefix) {
				p, err := s.apiTokenLogin(ctx, value)
				return p, nil, err
			}
			return s.fromToken(ctx, value)
		default:
			return nil, nil, fmt.Errorf("unsupported authorization scheme %q: use Basic or Bearer", scheme)
		}
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		p, err := s.fromSession(ctx, c.Value)
		if errors.Is(err, ErrUnauthenticated) {
			return Anonymous, nil, nil // an expired cookie is the same as none
		}
		return p, nil, err
	}
	return Anonymous, nil, nil
}

func (s *Service) fromSession(ctx context.Context, token string) (*Principal, error) {
	sess, err := s.db.Session.Query().
		Where(session.TokenHash(hashToken(token)), session.ExpiresAtGT(time.Now())).
		WithUser().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	u := sess.Edges.User
	if u.Disabled || (u.CredentialsChangedAt != nil && sess.CreatedAt.Before(*u.CredentialsChangedAt)) {
		return nil, ErrUnauthenticated
	}
	return userPrincipal(sess.Edges.User), nil
}

// fromToken verifies a Bearer token and reloads its user or robot (and the API token it was
// obtained with), so that a deleted, disabled, expired or revoked credential, or an account whose
// admin flag changed, counts from the next request on.
func (s *Service) fromToken(ctx context.Context, token string) (*Principal, *Claims, error) {
	claims, err := s.tokens.Verify(token)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case claims.Kind == KindScanner:
		p, err := scannerPrincipal(claims)
		if err != nil {
			return nil, nil, err
		}
		return p, claims, nil
	case claims.Kind == KindRobot:
		p, err := s.robotFromToken(ctx, claims)
		if err != nil {
			return nil, nil, err
		}
		return p, claims, nil
	case claims.Kind != KindUser:
		return Anonymous, claims, nil
	case claims.TokenID != 0:
		p, err := s.apiTokenFromClaims(ctx, claims)
		if err != nil {
			return nil, nil, err
		}
		return p, claims, nil
	}
	u, err := s.db.User.Get(ctx, claims.UserID)
	if ent.IsNotFound(err) || (err == nil && (u.Disabled || claims.issuedBefore(u.CredentialsChangedAt))) {
		return nil, nil, ErrInvalidToken
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up token user: %w", err)
	}
	return userPrincipal(u), claims, nil
}

// Access loads what p may do in proj.
func (s *Service) Access(ctx context.Context, p *Principal, proj *ent.Project) (Access, error) {
	if p.Kind != KindUser || p.Admin {
		return AccessWithRole(p, proj, nil), nil
	}
	m, err := s.db.Member.Query().Where(member.ProjectID(proj.ID), member.UserID(p.UserID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return AccessWithRole(p, proj, nil), nil
	case err != nil:
		return Access{}, Unavailable(fmt.Errorf("look up membership: %w", err))
	default:
		return AccessWithRole(p, proj, &m.Role), nil
	}
}

// AccessWithRole is Access for a caller whose role in proj is already known (nil: no member),
// as when a page of projects has loaded every role in one query.
func AccessWithRole(p *Principal, proj *ent.Project, role *member.Role) Access {
	a := Access{Admin: p.Admin, Public: proj.Public}
	if p.Scopes != nil {
		a.Scope = make(map[Action]bool, len(p.Scopes))
		for _, sc := range p.Scopes {
			a.Scope[sc] = true
		}
	}
	switch {
	case p.Kind == KindScanner:
		a.Robot = scannerActions(p, proj)
	case p.Kind == KindRobot:
		a.Robot = robotActions(p, proj.ID)
		if a.Robot == nil {
			a.Robot = map[Action]bool{}
		}
	case p.Kind == KindUser && !p.Admin && role != nil:
		a.Role = *role
	}
	return a
}

// VisibleProjects is the filter for the projects p may see: every one for an admin, else the
// public ones and those p is a member of. A personal API token whose scopes leave out
// project:read sees none: its scopes bound what it reads as well as what it does. A scanner
// sees none either: it pulls its one artifact by name.
func VisibleProjects(p *Principal) predicate.Project {
	switch {
	case p.Scopes != nil && !slices.Contains(p.Scopes, ActionReadProject), p.Kind == KindScanner:
		return project.IDLT(0)
	case p.Admin:
		return project.IDGT(0)
	case p.Kind == KindUser:
		return project.Or(project.Public(true), project.HasMembersWith(member.UserID(p.UserID)))
	case p.Kind == KindRobot:
		ids, all := robotProjects(p)
		if all {
			return project.IDGT(0)
		}
		return project.Or(project.Public(true), project.IDIn(ids...))
	default:
		return project.Public(true)
	}
}
