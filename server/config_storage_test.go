package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Storage settings: one driver, the keys Berth sets itself refused, redirects only on object stores,
// and the secrets' settings bounded.
func TestStorageAndSecretSettings(t *testing.T) {
	t.Parallel()
	write := func(yaml string) string {
		f := filepath.Join(t.TempDir(), "berth.yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	ok := write("storage:\n  s3: {bucket: b, region: us-east-1}\nstorage_redirect: true\nstorage_middleware:\n  - name: redirect\n    options: {baseurl: https://cdn.example.com}\n")
	cfg, err := parseServeFlags("-config", ok)
	if err != nil || !cfg.StorageRedirect || cfg.Storage["s3"]["bucket"] != "b" || len(cfg.StorageMiddleware) != 1 ||
		cfg.StorageMiddleware[0].Options["baseurl"] != "https://cdn.example.com" {
		t.Fatalf("s3 with redirects: %+v, %v", cfg, err)
	}
	for yaml, want := range map[string]string{
		"storage:\n  s3: {bucket: b}\n  gcs: {bucket: b}\n":                     "one driver",
		"storage:\n  s3: {bucket: b}\n  redirect: {disable: false}\n":           "storage_redirect",
		"storage:\n  s3: {bucket: b}\n  maintenance: {}\n":                      "purges uploads itself",
		"storage_redirect: true\n":                                              "object store",
		"storage:\n  filesystem: {rootdirectory: /x}\nstorage_redirect: true\n": "object store",
		"http_secret: short\n":                                                  "at least 16",
		"key_refresh_interval: 1ms\n":                                           "BERTH_KEY_REFRESH_INTERVAL",
		"key_refresh_interval: 1h\n":                                            "BERTH_KEY_REFRESH_INTERVAL",
	} {
		if _, err := parseServeFlags("-config", write(yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", yaml, err, want)
		}
	}
	if cfg, err := parseServeFlags("-storage-redirect", "true", "-config", ok, "-key-refresh-interval", "2s"); err != nil || cfg.KeyRefresh.Seconds() != 2 {
		t.Errorf("flags: %v %v", cfg.KeyRefresh, err)
	}
}
