// Package user owns user accounts: who may create, change, list and delete them (the system
// actions user:create and user:list), the rules a username and a password must keep, that nobody
// deletes their own account, a user's change of their own password, and what the caller learns
// about themselves. GraphQL and the Harbor REST endpoints are thin adapters over it. Logging in and
// out, sessions and tokens are auth's; this package never touches a session or a cookie.
package user

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/fault"
)

// usernameRE is Harbor's rule for usernames, which scripts and clients already follow.
var usernameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// maxUsernameLength is the longest username the schema keeps.
const maxUsernameLength = 255

// Service is the user domain service.
type Service struct {
	db    *ent.Client
	auth  *auth.Service
	audit *audit.Writer
}

// New returns the user service.
func New(db *ent.Client, authz *auth.Service, auditLog *audit.Writer) *Service {
	return &Service{db: db, auth: authz, audit: auditLog}
}

// CreateInput is a new account.
type CreateInput struct {
	Username string
	Password string
	Email    *string
	FullName *string
	Admin    *bool
}

// UpdateInput changes an account; nil fields stay as they are. A new password ends the user's
// sessions and the registry tokens issued before it, as the user's own change does.
type UpdateInput struct {
	Email    *string
	FullName *string
	Admin    *bool
	Disabled *bool
	Password *string
}

// Viewer is what the caller learns about themselves.
type Viewer struct {
	// User is the caller's account; nil for a robot, a scanner or an anonymous caller.
	User *ent.User
	// Admin is true for a system administrator.
	Admin bool
	Kind  auth.Kind
}

// allow checks that the caller may do a system action.
func (s *Service) allow(ctx context.Context, action auth.Action) error {
	return s.auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, action, "")
}

// Create makes an account (user:create).
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.User, error) {
	if err := s.allow(ctx, auth.ActionManageUsers); err != nil {
		return nil, err
	}
	if len(in.Username) > maxUsernameLength || !usernameRE.MatchString(in.Username) {
		return nil, fault.BadInput("invalid username %q: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most %d characters",
			in.Username, maxUsernameLength)
	}
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		return nil, passwordError(err)
	}
	u, err := s.db.User.Create().SetUsername(in.Username).SetPasswordHash(hash).
		SetNillableEmail(in.Email).SetNillableFullName(in.FullName).SetNillableAdmin(in.Admin).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("user %q already exists", in.Username)
	}
	if ent.IsValidationError(err) {
		return nil, fault.BadInput("email and full name may be at most 255 characters long")
	}
	if err != nil {
		return nil, fmt.Errorf("create user %q: %w", in.Username, err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpCreate, ResourceType: "user", Resource: u.Username})
	return u, nil
}

// Update changes the account with id (user:create).
func (s *Service) Update(ctx context.Context, id int, in UpdateInput) (*ent.User, error) {
	if err := s.allow(ctx, auth.ActionManageUsers); err != nil {
		return nil, err
	}
	if in.Password != nil {
		if err := auth.CheckPasswordRules(*in.Password); err != nil {
			return nil, passwordError(err)
		}
	}
	u, err := s.db.User.UpdateOneID(id).SetNillableEmail(in.Email).SetNillableFullName(in.FullName).
		SetNillableAdmin(in.Admin).SetNillableDisabled(in.Disabled).Save(ctx)
	if err == nil && in.Password != nil {
		// A reset by an administrator ends the user's sessions and tokens, as a change does.
		err = s.auth.SetPassword(ctx, id, *in.Password)
	}
	switch {
	case ent.IsNotFound(err):
		return nil, fault.NotFound(fmt.Sprintf("user %d", id))
	case ent.IsValidationError(err):
		return nil, fault.BadInput("email and full name may be at most 255 characters long")
	case err != nil:
		return nil, fmt.Errorf("update user %d: %w", id, passwordError(err))
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "user", Resource: u.Username})
	return u, nil
}

// Delete removes the account with id (user:create). Nobody deletes their own account: a system
// could otherwise lose its last administrator by a slip.
func (s *Service) Delete(ctx context.Context, id int) error {
	if err := s.allow(ctx, auth.ActionManageUsers); err != nil {
		return err
	}
	if auth.PrincipalFrom(ctx).UserID == id {
		return fault.BadInput("you cannot delete your own account")
	}
	u, err := s.db.User.Get(ctx, id)
	if ent.IsNotFound(err) {
		return fault.NotFound(fmt.Sprintf("user %d", id))
	}
	if err != nil {
		return fmt.Errorf("delete user %d: %w", id, err)
	}
	if err := s.db.User.DeleteOne(u).Exec(ctx); err != nil {
		if ent.IsNotFound(err) {
			return fault.NotFound(fmt.Sprintf("user %d", id))
		}
		return fmt.Errorf("delete user %q: %w", u.Username, err)
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpDelete, ResourceType: "user", Resource: u.Username})
	return nil
}

// Query is every account, for a caller who may list them (user:list); the adapter pages it.
func (s *Service) Query(ctx context.Context) (*ent.UserQuery, error) {
	if err := s.allow(ctx, auth.ActionListUsers); err != nil {
		return nil, err
	}
	return s.db.User.Query(), nil
}

// ChangePassword changes the caller's own password after checking the current one. Every session
// and registry token of the caller ends with it; keeping the caller signed in (a new session) is
// the door's business. A throttled check of the current password is returned as auth's
// *auth.ThrottledError, for the door to say when to try again.
func (s *Service) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	p := auth.PrincipalFrom(ctx)
	if !p.Authenticated() {
		return auth.ErrUnauthenticated
	}
	if p.Kind != auth.KindUser {
		return fault.BadInput("only user accounts have passwords")
	}
	if _, err := s.auth.Login(ctx, p.Name, oldPassword); err != nil {
		var throttled *auth.ThrottledError
		if errors.As(err, &throttled) || auth.IsUnavailable(err) {
			return err
		}
		return fault.BadInput("the current password is wrong")
	}
	if err := s.auth.SetPassword(ctx, p.UserID, newPassword); err != nil {
		return fmt.Errorf("change password of %s: %w", p.Name, passwordError(err))
	}
	s.audit.Log(ctx, audit.Entry{Operation: audit.OpUpdate, ResourceType: "user", Resource: p.Name + " (password)"})
	return nil
}

// Current is the caller as they see themselves: their account, if they are a user.
func (s *Service) Current(ctx context.Context) (*Viewer, error) {
	p := auth.PrincipalFrom(ctx)
	v := &Viewer{Admin: p.Admin, Kind: p.Kind}
	if p.Kind != auth.KindUser {
		return v, nil
	}
	u, err := s.db.User.Get(ctx, p.UserID)
	if ent.IsNotFound(err) {
		// Deleted since the request was authenticated.
		return nil, auth.ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("load user %d: %w", p.UserID, err)
	}
	v.User = u
	return v, nil
}

// passwordError is the caller's error for a password that could not be set: the rules it broke,
// or the cause (logged by the door) if it was something else.
func passwordError(err error) error {
	if errors.Is(err, auth.ErrWeakPassword) {
		return fault.BadInput("%s", auth.ErrWeakPassword.Error())
	}
	return err
}
