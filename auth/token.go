package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// TokenIssuer is the "iss" of every token Berth signs.
const TokenIssuer = "berth-token-service"

// ResourceActions is one grant in a registry token, as the Docker token specification writes it:
// {"type": "repository", "name": "library/nginx", "actions": ["pull", "push"]}.
type ResourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are the contents of a Berth token. A token without Access is an identity token: it proves
// who the holder is and may be used as a Bearer token on GraphQL and REST. A token with Access is a
// registry token, good only on /v2 and only for what it lists.
type Claims struct {
	jwt.RegisteredClaims
	Kind   Kind              `json:"kind"`
	UserID int               `json:"uid,omitempty"`
	Access []ResourceActions `json:"access,omitempty"`
	// RobotID names the robot of a KindRobot token, and Credential the secret it was issued for.
	RobotID    int    `json:"rid,omitempty"`
	Credential string `json:"cv,omitempty"`
	// TokenID is the personal API token a user's token was obtained with: the token is good only
	// while that one is, and only for its scopes.
	TokenID int `json:"tid,omitempty"`
	// Digest, in a scanner's token (KindScanner), is the one artifact of its repository it may pull.
	Digest string `json:"dig,omitempty"`
	// IssuedMilli is IssuedAt in milliseconds ("iat" has whole seconds), so that a token issued
	// just before a password change is told from one issued just after.
	IssuedMilli int64 `json:"iatms,omitempty"`
}

// issuedBefore reports whether the token was issued before t (nil: never).
func (c *Claims) issuedBefore(t *time.Time) bool {
	if t == nil {
		return false
	}
	issued := c.IssuedMilli
	if issued == 0 && c.IssuedAt != nil {
		issued = c.IssuedAt.UnixMilli()
	}
	return issued < t.UnixMilli()
}

// Narrow returns what of ra the token itself grants, or nil if nothing: a registry token can only
// be exchanged for a subset of its own scope.
func (c *Claims) Narrow(ra ResourceActions) *ResourceActions {
	var kept []string
	for _, a := range ra.Actions {
		if c.Grants(ra.Type, ra.Name, a) {
			kept = append(kept, a)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return &ResourceActions{Type: ra.Type, Name: ra.Name, Actions: kept}
}

// Grants reports whether the token grants action on the named resource of the given type.
func (c *Claims) Grants(typ, name, action string) bool {
	for _, ra := range c.Access {
		if ra.Type != typ || ra.Name != name {
			continue
		}
		for _, a := range ra.Actions {
			if a == action || a == "*" {
				return true
			}
		}
	}
	return false
}

// ScannerSubject is the subject of the pull tokens Berth gives scanner adapters. It is only a
// name for logs: what the registry trusts is the token's kind (KindScanner), which no user or
// robot can have, whatever it is called.
const ScannerSubject = "berth-scanner"

// Keyring is where token keys come from: the key new tokens are signed with (and its id, the
// JWT "kid"), and the public keys a token naming a key id may be verified with (every key held
// for an empty kid). secrets.Store is the one every replica shares through PostgreSQL.
type Keyring interface {
	Signer() (kid string, key *ecdsa.PrivateKey)
	Verifiers(kid string) []*ecdsa.PublicKey
}

// Tokens signs and verifies tokens with the keys of a Keyring, so that every replica sharing it
// accepts every other replica's tokens, across key rotations.
type Tokens struct {
	keys    Keyring
	service string
	ttl     time.Duration
}

// NewTokens signs with one key kept in the file keyPath, creating it on first use: for tools and
// tests that run without the shared secrets.
func NewTokens(keyPath, service string, ttl time.Duration) (*Tokens, error) {
	key, err := loadOrCreateKey(keyPath)
	if err != nil {
		return nil, err
	}
	return &Tokens{keys: staticKey{key}, service: service, ttl: ttl}, nil
}

// NewTokensWith signs and verifies with the keys of kr.
func NewTokensWith(kr Keyring, service string, ttl time.Duration) *Tokens {
	return &Tokens{keys: kr, service: service, ttl: ttl}
}

// WithTTL is the same keys and service with another token lifetime.
func (t *Tokens) WithTTL(ttl time.Duration) *Tokens {
	return &Tokens{keys: t.keys, service: t.service, ttl: ttl}
}

// staticKey is a keyring of one key without an id.
type staticKey struct{ key *ecdsa.PrivateKey }

func (k staticKey) Signer() (string, *ecdsa.PrivateKey) { return "", k.key }
func (k staticKey) Verifiers(string) []*ecdsa.PublicKey { return []*ecdsa.PublicKey{&k.key.PublicKey} }

// Service is the "service" name clients must ask tokens for (the "aud" of every token).
func (t *Tokens) Service() string { return t.service }

// TTL is how long an issued token stays valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue signs a token for p granting access (nil for an identity token), good for the TTL.
func (t *Tokens) Issue(p *Principal, access []ResourceActions, now time.Time) (string, error) {
	token, _, err := t.IssueUntil(p, access, now, time.Time{})
	return token, err
}

// IssueUntil is Issue for a token that must not outlive notAfter (zero: no bound), and returns
// when the token expires. A token exchanged for another passes its own expiry here, so that
// re-issuing never extends what the holder was given.
func (t *Tokens) IssueUntil(p *Principal, access []ResourceActions, now, notAfter time.Time) (string, time.Time, error) {
	if p.Kind == KindScanner {
		return "", time.Time{}, errors.New("scanner tokens are issued by IssueScanner only")
	}
	claims := t.claims(p.Name, p.Kind, access, now, notAfter)
	claims.UserID, claims.RobotID, claims.Credential, claims.TokenID = p.UserID, p.RobotID, p.credential, p.TokenID
	return t.sign(claims)
}

// IssueScanner signs the token a scanner adapter pulls one artifact with: repository repo,
// manifest digest dgst, and the blobs that artifact stands on; nothing else, not even another
// artifact of the same repository.
func (t *Tokens) IssueScanner(repo, dgst string, now time.Time) (string, error) {
	claims := t.claims(ScannerSubject, KindScanner,
		[]ResourceActions{{Type: "repository", Name: repo, Actions: []string{"pull"}}}, now, time.Time{})
	claims.Digest = dgst
	token, _, err := t.sign(claims)
	return token, err
}

func (t *Tokens) claims(subject string, kind Kind, access []ResourceActions, now, notAfter time.Time) Claims {
	exp := now.Add(t.ttl)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter
	}
	return Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    TokenIssuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{t.service},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		Kind:        kind,
		Access:      access,
		IssuedMilli: now.UnixMilli(),
	}
}

func (t *Tokens) sign(claims Claims) (string, time.Time, error) {
	kid, key := t.keys.Signer()
	token := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	if kid != "" {
		token.Header["kid"] = kid
	}
	signed, err := token.SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, claims.ExpiresAt.Time, nil
}

// ErrInvalidToken is returned for a token that is malformed, expired, or not signed by Berth.
var ErrInvalidToken = errors.New("invalid or expired token")

// Verify checks a token's signature, issuer, audience and lifetime and returns its claims.
func (t *Tokens) Verify(token string) (*Claims, error) {
	// A token naming a key id is checked with that key (a key rotated in on another replica is
	// fetched then); one without, signed before keys had ids, with each key held.
	var kid string
	if parsed, _, err := jwt.NewParser().ParseUnverified(token, &Claims{}); err == nil {
		kid, _ = parsed.Header["kid"].(string)
	}
	for _, pub := range t.keys.Verifiers(kid) {
		var claims Claims
		_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
			jwt.WithIssuer(TokenIssuer),
			jwt.WithAudience(t.service),
			jwt.WithExpirationRequired(),
		)
		if err == nil {
			return &claims, nil
		}
	}
	return nil, ErrInvalidToken
}

func loadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read token signing key %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("token signing key %s: no PEM block", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("token signing key %s: %w", path, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("token signing key %s: not an ECDSA key", path)
	}
	return key, nil
}

func createKey(path string) (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate token signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode token signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	// Write a temporary file, then hard-link it into place: when two replicas start together on a
	// shared directory, one key wins whole and the other process reads it.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-key-*")
	if err != nil {
		return nil, fmt.Errorf("write token signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write token signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write token signing key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return loadOrCreateKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("write token signing key: %w", err)
	}
	return key, nil
}
