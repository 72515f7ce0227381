package server_test

import "testing"

// The scan limits read sizes with binary units and refuse what is not a positive size.
func TestScanLimitSettings(t *testing.T) {
	t.Parallel()
	cfg, err := parseServeFlags()
	if err != nil || cfg.ScanMaxBytes != 8<<30 || cfg.ScanMaxFiles != 1_000_000 {
		t.Fatalf("defaults: %d bytes, %d files, %v", cfg.ScanMaxBytes, cfg.ScanMaxFiles, err)
	}
	for v, want := range map[string]int64{"1024": 1024, "512MiB": 512 << 20, "2 GiB": 2 << 30, "64KiB": 64 << 10} {
		if cfg, err := parseServeFlags("-scan-max-bytes", v); err != nil || cfg.ScanMaxBytes != want {
			t.Errorf("-scan-max-bytes %s: %d, %v; want %d", v, cfg.ScanMaxBytes, err, want)
		}
	}
	for _, v := range []string{"0", "-1", "8GB", "lots", "9999999999GiB"} {
		if _, err := parseServeFlags("-scan-max-bytes", v); err == nil {
			t.Errorf("-scan-max-bytes %s accepted", v)
		}
	}
	if _, err := parseServeFlags("-scan-max-files", "0"); err == nil {
		t.Error("-scan-max-files 0 accepted")
	}
}
