package advisory

import "testing"

func TestCompare(t *testing.T) {
	t.Parallel()
	cases := []struct {
		eco  string
		a, b string
		want int
	}{
		// Debian: epochs, ~ sorts before everything, letters before non-letters, revisions.
		{"Debian", "1.0", "1.0", 0},
		{"Debian:12", "1.0-1", "1.0-2", -1},
		{"Debian", "1:1.0", "2.0", 1},
		{"Debian", "1.0~rc1", "1.0", -1},
		{"Debian", "1.0~rc1", "1.0~rc1~1", 1},
		{"Debian", "1.0+deb12u1", "1.0", 1},
		{"Debian", "1.0a", "1.0+", -1},
		{"Debian", "2.36-9+deb12u3", "2.36-9+deb12u4", -1},
		{"Debian", "1.10", "1.9", 1},
		{"Debian", "3.0.11-1~deb12u2", "3.0.11-1", -1},
		{"Debian", "0:1.2", "1.2", 0},
		// Alpine: -rN package revisions, suffixes _alpha < _beta < _pre < _rc < (none) < _p.
		{"Alpine:v3.19", "1.2.3-r0", "1.2.3-r1", -1},
		{"Alpine", "1.2.3-r10", "1.2.3-r9", 1},
		{"Alpine", "1.2.3_rc1-r0", "1.2.3-r0", -1},
		{"Alpine", "1.2.3_p1-r0", "1.2.3-r0", 1},
		{"Alpine", "1.2.3_alpha-r0", "1.2.3_beta-r0", -1},
		{"Alpine", "3.1.4-r5", "3.1.4-r5", 0},
		{"Alpine", "1.36.1-r15", "1.36.1-r7", 1},
		{"Alpine", "1.2a-r0", "1.2-r0", 1},
		// RPM: epoch, release, tilde and caret, alphanumeric segments.
		{"Red Hat", "1.0-1.el9", "1.0-2.el9", -1},
		{"AlmaLinux:9", "1:1.0-1", "2.0-1", 1},
		{"Rocky Linux", "1.0~rc1-1", "1.0-1", -1},
		{"Red Hat", "1.0^git1-1", "1.0-1", 1},
		{"Red Hat", "1.0a-1", "1.0-1", 1},
		{"Red Hat", "1.10-1", "1.9-1", 1},
		{"Red Hat", "2.34-60.el9", "2.34-100.el9", -1},
		{"Red Hat", "1.0-1.el9_2", "1.0-1.el9", 1},
	}
	for _, c := range cases {
		got, err := Compare(c.eco, c.a, c.b)
		if err != nil {
			t.Errorf("Compare(%q, %q, %q): %v", c.eco, c.a, c.b, err)
			continue
		}
		if got != c.want {
			t.Errorf("Compare(%q, %q, %q) = %d, want %d", c.eco, c.a, c.b, got, c.want)
		}
		// Antisymmetry.
		if back, _ := Compare(c.eco, c.b, c.a); back != -c.want {
			t.Errorf("Compare(%q, %q, %q) = %d, want %d", c.eco, c.b, c.a, back, -c.want)
		}
	}
	if _, err := Compare("Nonesuch", "1", "2"); err == nil {
		t.Error("an unknown ecosystem compared without error")
	}
}

func TestAffected(t *testing.T) {
	t.Parallel()
	r := []osvRange{{Type: "ECOSYSTEM", Events: []event{{Introduced: "0"}, {Fixed: "1.2-3"}}}}
	two := []osvRange{{Type: "ECOSYSTEM", Events: []event{{Introduced: "2.0"}, {Fixed: "2.5"}, {Introduced: "1.0"}, {LastAffected: "1.4"}}}}
	cases := []struct {
		version string
		ranges  []osvRange
		list    []string
		want    bool
		fixed   string
	}{
		{"1.2-2", r, nil, true, "1.2-3"},
		{"1.2-3", r, nil, false, ""},
		{"1.2-3+deb12u1", r, nil, false, ""},
		{"1:0.1", r, nil, false, ""},
		{"0.9", two, nil, false, ""},
		{"1.0", two, nil, true, "2.5"},
		{"1.4", two, nil, true, "2.5"},
		{"1.5", two, nil, false, ""},
		{"2.1", two, nil, true, "2.5"},
		{"2.5", two, nil, false, ""},
		{"3.0", nil, []string{"3.0", "3.1"}, true, ""},
		{"3.2", nil, []string{"3.0", "3.1"}, false, ""},
	}
	for _, c := range cases {
		got, fixed, err := affected("Debian:12", c.version, c.ranges, c.list)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want || fixed != c.fixed {
			t.Errorf("affected(%q) = %v, %q; want %v, %q", c.version, got, fixed, c.want, c.fixed)
		}
	}
}
