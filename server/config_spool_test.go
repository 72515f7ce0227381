package server_test

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/server"
)

func TestAuditSpoolSettings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		size int64
		err  string
	}{
		{nil, audit.DefaultSpoolLimit, ""},
		{[]string{"--audit-spool-size", "2GiB"}, 2 << 30, ""},
		{[]string{"--audit-spool-size", "64 MiB"}, 64 << 20, ""},
		{[]string{"--audit-spool-size", "5000000"}, 5000000, ""},
		{[]string{"--audit-spool-size", "1KiB"}, 0, "at least 1MiB"},
		{[]string{"--audit-spool-size", "lots"}, 0, "positive number of bytes"},
		{[]string{"--audit-spool-size", "-5MiB"}, 0, "positive number of bytes"},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		get := server.Flags(fs)
		if err := fs.Parse(append(c.args, "--audit-spool-dir", "/var/spool/berth")); err != nil {
			t.Fatal(err)
		}
		cfg, err := get()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: error %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || cfg.AuditSpoolSize != c.size || cfg.AuditSpoolDir != "/var/spool/berth" {
			t.Errorf("%v: size %d dir %q err %v; want %d", c.args, cfg.AuditSpoolSize, cfg.AuditSpoolDir, err, c.size)
		}
	}
}
