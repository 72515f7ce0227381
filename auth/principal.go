package auth

import (
	"context"
	"errors"

	"github.com/berth-registry/berth/ent/schema"
)

// Kind says what sort of identity a principal is.
type Kind string

// The kinds of principal.
const (
	KindAnonymous Kind = "ANONYMOUS"
	KindUser      Kind = "USER"
	KindRobot     Kind = "ROBOT"
	// KindScanner is a scanner adapter pulling the one artifact it was asked to scan. Only a token
	// Berth signed for a scan carries it; no account can log in as one.
	KindScanner Kind = "SCANNER"
)

// Principal is who is making a request, however they proved it.
type Principal struct {
	Kind   Kind
	UserID int    // for KindUser
	Name   string // username, robot name, or "anonymous"
	Admin  bool   // system administrator

	// RobotID, RobotProjectID and Permissions describe a robot (KindRobot): what it may do is its
	// permission list, never a role. RobotProjectID is 0 for a system robot.
	RobotID        int
	RobotProjectID int
	Permissions    []schema.RobotPermission

	// TokenID is the personal API token a user authenticated with (0 for a password or session);
	// Scopes, when not nil, limits the user's project actions to those listed.
	TokenID int
	Scopes  []Action

	// ScanRepository and ScanDigest are the one artifact a scanner (KindScanner) may pull.
	ScanRepository string
	ScanDigest     string

	// credential fingerprints the robot secret the request proved, for the tokens issued to it.
	credential string
	// claims are those of the Berth token the request presented as Bearer, if any: what a
	// registry token does not grant, Decide refuses (OutOfScope).
	claims *Claims
}

// Anonymous is the principal of a request that carries no credentials.
var Anonymous = &Principal{Kind: KindAnonymous, Name: "anonymous"}

// Authenticated reports whether the principal proved an identity.
func (p *Principal) Authenticated() bool { return p != nil && p.Kind != KindAnonymous }

type principalKey struct{}

// WithPrincipal returns a context that carries p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal carried by ctx, or Anonymous.
func PrincipalFrom(ctx context.Context) *Principal {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok && p != nil {
		return p
	}
	return Anonymous
}

// Errors every surface maps to its own status: 401, 403 and a login failure.
var (
	ErrUnauthenticated = errors.New("authentication required")
	ErrForbidden       = errors.New("permission denied")
	ErrBadCredentials  = errors.New("invalid username or password")
)

// Denied returns the error for a principal who may not do something: 401 for the anonymous
// (logging in may help), 403 for everyone else.
func Denied(p *Principal) error {
	if p.Authenticated() {
		return ErrForbidden
	}
	return ErrUnauthenticated
}

type sourceIPKey struct{}

// WithSourceIP returns a context that carries the client address a request came from.
func WithSourceIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, sourceIPKey{}, ip)
}

// SourceIPFrom returns the client address carried by ctx, or "".
func SourceIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(sourceIPKey{}).(string)
	return ip
}
