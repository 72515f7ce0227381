package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/ent/session"
	"github.com/berth-registry/berth/ent/user"
)

// The password rules, as Harbor's: MinPasswordLength to MaxPasswordLength characters, with at
// least one upper-case letter, one lower-case letter and one digit.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

// ErrWeakPassword is returned for a password that breaks the rules; its text states them.
var ErrWeakPassword = fmt.Errorf("password must be %d to %d characters long and contain an upper-case letter, a lower-case letter and a digit",
	MinPasswordLength, MaxPasswordLength)

// CheckPasswordRules returns ErrWeakPassword if password breaks the password rules. It is the
// one place they are written: creating a user, changing or resetting a password and the first
// admin's password all pass through HashPassword, which calls it.
func CheckPasswordRules(password string) error {
	n := utf8.RuneCountInString(password)
	if !utf8.ValidString(password) || n < MinPasswordLength || n > MaxPasswordLength {
		return ErrWeakPassword
	}
	var upper, lower, digit bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if !upper || !lower || !digit {
		return ErrWeakPassword
	}
	return nil
}

// HashPassword returns the bcrypt hash of a password that keeps the password rules.
func HashPassword(password string) (string, error) {
	if err := CheckPasswordRules(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword(bcryptInput(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// bcryptInput is what bcrypt is given for a password. bcrypt reads at most 72 bytes, so a longer
// password is hashed first (SHA-256, base64) to keep every character significant; shorter ones
// go in as they are, as every hash stored before long passwords were allowed.
func bcryptInput(password string) []byte {
	if len(password) <= 72 {
		return []byte(password)
	}
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

// checkPassword reports whether password matches hash.
func checkPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), bcryptInput(password)) == nil
}

// dummyHash is compared against when a username is unknown, so that a failed login takes as long
// whether or not the user exists.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not-a-real-password"), bcrypt.DefaultCost)

// GeneratePassword returns a random password for the first admin account: 144 random bits, and
// a fixed tail so that it keeps the password rules whatever the random part holds.
func GeneratePassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed: " + err.Error()))
	}
	return base64.RawURLEncoding.EncodeToString(b) + "-Aa1"
}

// SetPassword gives user userID a new password, after checking it against the password rules, and
// ends everything the old one opened: the user's sessions are deleted and every registry or
// identity token issued to the user before now is refused from the next request on (the
// credentials-changed time is compared with each token's issue time). The change of the user row
// also makes every replica forget its cached access decisions. Personal API tokens are separate
// credentials the user manages, and stay valid.
func (s *Service) SetPassword(ctx context.Context, userID int, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("set password: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := tx.User.UpdateOneID(userID).SetPasswordHash(hash).SetCredentialsChangedAt(time.Now()).Exec(ctx); err != nil {
		return fmt.Errorf("set password of user %d: %w", userID, err)
	}
	if _, err := tx.Session.Delete().Where(session.HasUserWith(user.ID(userID))).Exec(ctx); err != nil {
		return fmt.Errorf("set password of user %d: end sessions: %w", userID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set password of user %d: commit: %w", userID, err)
	}
	return nil
}
