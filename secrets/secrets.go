// Package secrets owns the secrets every replica must share: the token-signing keys (with
// rotation), the HTTP secret Distribution signs upload state with, and the key that seals registry
// endpoint credentials. They live in PostgreSQL (table shared_secrets), so that a new replica needs
// nothing copied onto its disk; the HTTP secret and the sealing key may come from settings
// instead, and then are never stored.
//
// The first start generates what is missing inside one transaction holding an advisory lock, so
// replicas starting together agree on one set; keys an older Berth kept in its data directory are
// imported then, once. Each replica re-reads the signing keys every refresh interval, and at once
// when it is shown a token signed by a key it does not know yet: a rotation on one replica is
// honoured by every other within the interval, and never fails a token in between.
package secrets

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockKey is the advisory lock taken while secrets are generated or rotated ("berthsec").
const lockKey int64 = 0x6265727468736563

// Options are where the secrets may come from besides the database, and how long keys live.
type Options struct {
	// ImportDir is the keys directory of an older Berth (<data>/keys): its token-signing.pem,
	// upload-secret and secret.key are imported the first time the database holds no secrets.
	ImportDir string
	// HTTPSecret and SecretKey, when set (BERTH_HTTP_SECRET, BERTH_SECRET_KEY), are used as they
	// are and the database's are neither read nor generated.
	HTTPSecret, SecretKey string
	// Verify is how long a retired signing key still verifies tokens: at least the longest token
	// lifetime plus the refresh interval. Zero: 24h.
	Verify time.Duration
	// Refresh is how often the signing keys are re-read. Zero: 10s.
	Refresh time.Duration
	Log     *slog.Logger
}

// Key is one token-signing key.
type Key struct {
	ID        string
	Private   *ecdsa.PrivateKey
	CreatedAt time.Time
	RetiredAt *time.Time // nil: the key that signs
}

// Store holds this replica's copy of the shared secrets.
type Store struct {
	pool *pgxpool.Pool
	opts Options

	httpSecret, secretKey string

	mu          sync.RWMutex
	keys        []Key // newest first; keys[0] signs
	lastRefresh time.Time
	refreshing  sync.Mutex // held while reading keys for an unknown key id
	lastMiss    time.Time  // when that was last done
}

// Open loads the shared secrets, generating (or importing) what the database lacks.
func Open(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if opts.Verify <= 0 {
		opts.Verify = 24 * time.Hour
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, opts: opts}
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ensure creates the secrets the database lacks, in one transaction under the advisory lock.
func (s *Store) ensure(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
			return fmt.Errorf("shared secrets: lock: %w", err)
		}
		have := map[string]bool{}
		rows, err := tx.Query(ctx, "SELECT DISTINCT kind FROM shared_secrets")
		if err != nil {
			return fmt.Errorf("shared secrets: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			have[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("shared secrets: %w", err)
		}
		now := time.Now()
		if !have[KindSigningKey] {
			pemKey, imported, err := s.importedSigningKey()
			if err != nil {
				return err
			}
			if pemKey == "" {
				if pemKey, err = newSigningKey(); err != nil {
					return err
				}
			}
			key, err := parseKey(pemKey)
			if err != nil {
				return err
			}
			if err := insert(ctx, tx, KindSigningKey, KeyID(&key.PublicKey), pemKey, now); err != nil {
				return err
			}
			s.opts.Log.Info("shared secrets: token-signing key stored in the database", "imported", imported)
		}
		if !have[KindHTTPSecret] && s.opts.HTTPSecret == "" {
			v, imported := s.imported("upload-secret")
			if v == "" {
				v = randomHex()
			}
			if err := insert(ctx, tx, KindHTTPSecret, KindHTTPSecret, v, now); err != nil {
				return err
			}
			s.opts.Log.Info("shared secrets: HTTP secret stored in the database", "imported", imported)
		}
		if !have[KindSecretKey] && s.opts.SecretKey == "" {
			v, imported := s.imported("secret.key")
			if v == "" {
				v = randomHex()
			}
			if err := insert(ctx, tx, KindSecretKey, KindSecretKey, v, now); err != nil {
				return err
			}
			s.opts.Log.Info("shared secrets: credential sealing key stored in the database", "imported", imported)
		}
		return nil
	})
}

// The kinds of shared secret (the kind column).
const (
	KindSigningKey = "signing_key"
	KindHTTPSecret = "http_secret"
	KindSecretKey  = "secret_key"
)

func insert(ctx context.Context, tx pgx.Tx, kind, kid, value string, now time.Time) error {
	_, err := tx.Exec(ctx, "INSERT INTO shared_secrets (kind, kid, value, created_at) VALUES ($1, $2, $3, $4)", kind, kid, value, now)
	if err != nil {
		return fmt.Errorf("shared secrets: store %s: %w", kind, err)
	}
	return nil
}

// imported reads one secret file of an older data directory ("" when there is none).
func (s *Store) imported(name string) (string, bool) {
	if s.opts.ImportDir == "" {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(s.opts.ImportDir, name))
	if err != nil {
		return "", false
	}
	v := strings.TrimSpace(string(b))
	return v, v != ""
}

func (s *Store) importedSigningKey() (string, bool, error) {
	v, ok := s.imported("token-signing.pem")
	if !ok {
		return "", false, nil
	}
	if _, err := parseKey(v); err != nil {
		return "", false, fmt.Errorf("import %s: %w", filepath.Join(s.opts.ImportDir, "token-signing.pem"), err)
	}
	return v, true, nil
}

// Reload re-reads the signing keys: the newest signs, retired ones verify until Verify after
// their retirement.
func (s *Store) Reload(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT kind, kid, value, created_at, retired_at FROM shared_secrets
		WHERE kind <> 'signing_key' OR retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, id DESC`,
		time.Now().Add(-s.opts.Verify))
	if err != nil {
		return fmt.Errorf("shared secrets: read: %w", err)
	}
	defer rows.Close()
	var keys []Key
	httpSecret, secretKey := s.opts.HTTPSecret, s.opts.SecretKey
	for rows.Next() {
		var (
			kind, kid, value string
			created          time.Time
			retired          *time.Time
		)
		if err := rows.Scan(&kind, &kid, &value, &created, &retired); err != nil {
			return fmt.Errorf("shared secrets: read: %w", err)
		}
		switch kind {
		case KindSigningKey:
			k, err := parseKey(value)
			if err != nil {
				return fmt.Errorf("shared secrets: signing key %s: %w", kid, err)
			}
			keys = append(keys, Key{ID: kid, Private: k, CreatedAt: created, RetiredAt: retired})
		case KindHTTPSecret:
			if s.opts.HTTPSecret == "" {
				httpSecret = value
			}
		case KindSecretKey:
			if s.opts.SecretKey == "" {
				secretKey = value
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("shared secrets: read: %w", err)
	}
	// The key that signs is the newest one not retired (rows come newest first).
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].RetiredAt == nil && keys[j].RetiredAt != nil })
	if len(keys) == 0 || keys[0].RetiredAt != nil {
		return errors.New("shared secrets: no token-signing key in the database")
	}
	s.mu.Lock()
	s.keys, s.httpSecret, s.secretKey, s.lastRefresh = keys, httpSecret, secretKey, time.Now()
	s.mu.Unlock()
	return nil
}

// Run re-reads the signing keys every refresh interval until ctx ends.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
				s.opts.Log.Warn("shared secrets: refresh failed; keeping the keys held", "err", err)
			}
		}
	}
}

// Refresh is the bound on how stale this replica's signing keys can be.
func (s *Store) Refresh() time.Duration { return s.opts.Refresh }

// HTTPSecret is the secret Distribution signs upload state with.
func (s *Store) HTTPSecret() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.httpSecret
}

// SecretKey is the key that seals registry endpoint credentials (hex, or the setting as given).
func (s *Store) SecretKey() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.secretKey
}

// Signer is the key new tokens are signed with, and its id.
func (s *Store) Signer() (string, *ecdsa.PrivateKey) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys[0].ID, s.keys[0].Private
}

// Verifiers are the public keys a token with key id kid may be verified with: that key (re-reading
// the database, at most once a second, when it is not known here yet), or every key held when
// kid is empty (tokens signed before keys had ids).
func (s *Store) Verifiers(kid string) []*ecdsa.PublicKey {
	if kid == "" {
		return s.publicKeys("")
	}
	if k := s.publicKeys(kid); len(k) > 0 {
		return k
	}
	// At most one such read a second: tokens with made-up key ids must not become a query each.
	s.refreshing.Lock()
	if time.Since(s.lastMiss) > time.Second {
		s.lastMiss = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Reload(ctx); err != nil {
			s.opts.Log.Warn("shared secrets: reading keys for an unknown key id failed", "kid", kid, "err", err)
		}
		cancel()
	}
	s.refreshing.Unlock()
	return s.publicKeys(kid)
}

func (s *Store) publicKeys(kid string) []*ecdsa.PublicKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*ecdsa.PublicKey
	for _, k := range s.keys {
		if kid == "" || k.ID == kid {
			out = append(out, &k.Private.PublicKey)
		}
	}
	return out
}

// Keys lists the signing keys this replica holds, newest (the signing one) first.
func (s *Store) Keys() []Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Key(nil), s.keys...)
}

// Rotate makes a new signing key the one that signs: the keys before it are retired and verify
// tokens for Verify more. Every replica signs with the new key within its refresh interval.
// Callers check permission and audit (see Service.Rotate); this is the storage side.
func (s *Store) Rotate(ctx context.Context) (Key, error) {
	pemKey, err := newSigningKey()
	if err != nil {
		return Key{}, err
	}
	key, err := parseKey(pemKey)
	if err != nil {
		return Key{}, err
	}
	now := time.Now()
	kid := KeyID(&key.PublicKey)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE shared_secrets SET retired_at = $1 WHERE kind = 'signing_key' AND retired_at IS NULL", now); err != nil {
			return err
		}
		// Keys retired long enough ago verify nothing any more: forget them.
		if _, err := tx.Exec(ctx, "DELETE FROM shared_secrets WHERE kind = 'signing_key' AND retired_at < $1", now.Add(-s.opts.Verify)); err != nil {
			return err
		}
		return insert(ctx, tx, KindSigningKey, kid, pemKey, now)
	})
	if err != nil {
		return Key{}, fmt.Errorf("rotate signing key: %w", err)
	}
	if err := s.Reload(ctx); err != nil {
		return Key{}, err
	}
	return Key{ID: kid, Private: key, CreatedAt: now}, nil
}

// KeyID is a key's id: the first 16 bytes of the SHA-256 of its public key (DER), base64url.
func KeyID(pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func newSigningKey() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate token signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("encode token signing key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

func parseKey(v string) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(v))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return key, nil
}

func randomHex() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
