package secrets_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/secrets"
	"github.com/berth-registry/berth/server/servertest"
)

// Replicas starting together on an upgraded installation agree on one set of secrets: the data
// directory's keys, imported once.
func TestFirstStartImportsAndAgrees(t *testing.T) {
	pool := servertest.NewPool(t)
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	must(t, os.WriteFile(filepath.Join(dir, "token-signing.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "upload-secret"), []byte("old-upload-secret\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "secret.key"), []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600))

	stores := make([]*secrets.Store, 4)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := secrets.Open(context.Background(), pool, secrets.Options{ImportDir: dir})
			if err != nil {
				t.Error(err)
				return
			}
			stores[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	want := secrets.KeyID(&key.PublicKey)
	for i, s := range stores {
		kid, _ := s.Signer()
		if kid != want || s.HTTPSecret() != "old-upload-secret" || s.SecretKey() != "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" {
			t.Fatalf("replica %d: signer %s (want the imported %s), http secret %q, secret key %q", i, kid, want, s.HTTPSecret(), s.SecretKey())
		}
	}

	// A rotation on one is seen by another at once for verification, and for signing after a reload.
	k, err := stores[0].Rotate(context.Background())
	must(t, err)
	if got := stores[1].Verifiers(k.ID); len(got) != 1 || !got[0].Equal(&k.Private.PublicKey) {
		t.Fatalf("replica 1 cannot verify the new key %s", k.ID)
	}
	if got := stores[1].Verifiers(want); len(got) != 1 {
		t.Fatal("the retired key no longer verifies")
	}
	must(t, stores[2].Reload(context.Background()))
	if kid, _ := stores[2].Signer(); kid != k.ID {
		t.Fatalf("replica 2 signs with %s after reload, want %s", kid, k.ID)
	}
}

// Settings win over the database, and are never stored.
func TestSettingsAreNotStored(t *testing.T) {
	pool := servertest.NewPool(t)
	s, err := secrets.Open(context.Background(), pool, secrets.Options{HTTPSecret: "from-settings-0123456789", SecretKey: "from-settings-key", Verify: time.Hour})
	must(t, err)
	if s.HTTPSecret() != "from-settings-0123456789" || s.SecretKey() != "from-settings-key" {
		t.Fatalf("secrets = %q %q, want the settings", s.HTTPSecret(), s.SecretKey())
	}
	var n int
	must(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM shared_secrets WHERE kind <> 'signing_key'").Scan(&n))
	if n != 0 {
		t.Fatalf("%d secrets from settings stored in the database", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
