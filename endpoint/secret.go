package endpoint

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySetting names the setting that gives the sealing key, for messages.
const KeySetting = "BERTH_SECRET_KEY"

// Sealer encrypts credentials at rest with AES-256-GCM: a sealed value is a random 12-byte nonce
// followed by the ciphertext and its tag. The purpose string is authenticated with it, so a
// value sealed for one use does not open as another.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer over a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key: need 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// LoadSealer returns the Sealer for setting (BERTH_SECRET_KEY: 32 bytes in base64 or hex, or a
// passphrase of at least 32 characters, hashed with SHA-256) or, if setting is empty, for the key
// in file, which is created with 32 random bytes (mode 0600) the first time.
func LoadSealer(setting, file string) (*Sealer, error) {
	if setting != "" {
		key, err := parseKey(setting)
		if err != nil {
			return nil, err
		}
		return NewSealer(key)
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate secret key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, fmt.Errorf("secret key %s: %w", file, err)
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) { // another process made it first: use theirs
			return LoadSealer("", file)
		}
		if err != nil {
			return nil, fmt.Errorf("secret key %s: %w", file, err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("secret key %s: %w", file, werr)
		}
		return NewSealer(key)
	}
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", file, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("secret key %s: not 64 hex digits", file)
	}
	return NewSealer(key)
}

func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if len(s) >= 32 {
		sum := sha256.Sum256([]byte(s))
		return sum[:], nil
	}
	return nil, fmt.Errorf("%s: give 32 bytes in base64 or hex, or a passphrase of at least 32 characters", KeySetting)
}

// Seal encrypts plain for purpose.
func (s *Sealer) Seal(plain []byte, purpose string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(purpose))
}

// Open decrypts a value Seal made for purpose. It fails when the key has changed.
func (s *Sealer) Open(sealed []byte, purpose string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed secret is truncated")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(purpose))
	if err != nil {
		return nil, fmt.Errorf("sealed secret does not open: was %s or the key file changed?", KeySetting)
	}
	return plain, nil
}
