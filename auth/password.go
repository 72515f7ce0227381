package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// MinPasswordLength is the shortest password Berth accepts.
const MinPasswordLength = 8

// ErrWeakPassword is returned for a password that is too short or too long.
var ErrWeakPassword = fmt.Errorf("password must be %d to 72 characters long", MinPasswordLength)

// HashPassword returns the bcrypt hash of a password, refusing ones too short to be safe or too
// long for bcrypt (which would silently ignore the rest).
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength || len(password) > 72 {
		return "", ErrWeakPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// checkPassword reports whether password matches hash.
func checkPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// dummyHash is compared against when a username is unknown, so that a failed login takes as long
// whether or not the user exists.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not-a-real-password"), bcrypt.DefaultCost)

// GeneratePassword returns a random password for the first admin account.
func GeneratePassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed: " + err.Error()))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
