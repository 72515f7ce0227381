package scan

import "testing"

func TestSourceRPMName(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"openssl-3.0.7-24.el9.src.rpm":       "openssl",
		"python3.11-3.11.5-1.el9_3.src.rpm":  "python3.11",
		"glibc-langpack-2.34-83.el9.src.rpm": "glibc-langpack",
		"":                                   "",
		"broken.src.rpm":                     "",
	} {
		if got := sourceRPMName(file); got != want {
			t.Errorf("sourceRPMName(%q) = %q, want %q", file, got, want)
		}
	}
}

func TestWanted(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"var/lib/dpkg/status":               true,
		"var/lib/dpkg/status.d/base":        true,
		"var/lib/dpkg/status-old":           false,
		"lib/apk/db/installed":              true,
		"etc/os-release":                    true,
		"usr/lib/os-release":                true,
		"var/lib/rpm/rpmdb.sqlite":          true,
		"var/lib/rpm/Packages":              true,
		"usr/lib/sysimage/rpm/rpmdb.sqlite": true,
		"var/lib/rpm/sub/rpmdb.sqlite":      false,
		"usr/bin/bash":                      false,
	} {
		if got := wanted(name); got != want {
			t.Errorf("wanted(%q) = %v, want %v", name, got, want)
		}
	}
}
