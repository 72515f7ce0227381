package endpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "keys", "secret.key")
	s, err := LoadSealer("", file)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal([]byte("hunter2-password"), "registry-endpoint")
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("sealed value contains the plain text")
	}
	again, err := LoadSealer("", file) // the generated key is read back, not replaced
	if err != nil {
		t.Fatal(err)
	}
	plain, err := again.Open(sealed, "registry-endpoint")
	if err != nil || string(plain) != "hunter2-password" {
		t.Fatalf("open: %q, %v", plain, err)
	}
	if _, err := again.Open(sealed, "something-else"); err == nil {
		t.Error("a value opened for another purpose")
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", fi.Mode(), err)
	}
	other, err := LoadSealer(strings.Repeat("a long passphrase ", 3), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(sealed, "registry-endpoint"); err == nil {
		t.Error("a value opened under another key")
	}
	if _, err := LoadSealer("short", ""); err == nil {
		t.Error("a short key was accepted")
	}
}
