package advisory

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// Compare orders two versions of one package the way its ecosystem does (dpkg's for Debian and
// Ubuntu, apk's for Alpine, rpmvercmp with epochs for Red Hat and its rebuilds): -1, 0 or +1.
// The ecosystem may carry a release suffix ("Debian:12"), which is ignored.
func Compare(ecosystem, a, b string) (int, error) {
	v, err := semantic.Parse(a, ecosystem)
	if err != nil {
		return 0, fmt.Errorf("%s version %q: %w", ecosystem, a, err)
	}
	c, err := v.CompareStr(b)
	if err != nil {
		return 0, fmt.Errorf("%s version %q: %w", ecosystem, b, err)
	}
	return c, nil
}

// supported reports whether Berth can order versions of ecosystem, and so match its advisories.
func supported(ecosystem string) bool {
	_, err := semantic.Parse("1", ecosystem)
	return err == nil
}

// event is one OSV range event.
type event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

func (e event) version() string {
	switch {
	case e.Introduced != "":
		return e.Introduced
	case e.Fixed != "":
		return e.Fixed
	case e.LastAffected != "":
		return e.LastAffected
	}
	return e.Limit
}

// osvRange is an OSV range; only ECOSYSTEM ranges are kept at import.
type osvRange struct {
	Type   string  `json:"type"`
	Events []event `json:"events"`
}

// affected reports whether version lies in any of the ranges or is one of versions, and the
// version that fixes it (the lowest fixed event above it; empty if no fix is known).
func affected(ecosystem, version string, ranges []osvRange, versions []string) (bool, string, error) {
	for _, v := range versions {
		if c, err := Compare(ecosystem, version, v); err == nil && c == 0 {
			return true, fixedAbove(ecosystem, version, ranges), nil
		}
	}
	for _, r := range ranges {
		events := append([]event(nil), r.Events...)
		// OSV evaluates events in version order, "0" (introduced at the beginning) first.
		var sortErr error
		sort.SliceStable(events, func(i, j int) bool {
			a, b := events[i].version(), events[j].version()
			if a == "0" || b == "0" {
				return a == "0" && b != "0"
			}
			c, err := Compare(ecosystem, a, b)
			if err != nil {
				sortErr = err
			}
			return c < 0
		})
		if sortErr != nil {
			return false, "", sortErr
		}
		in := false
		for _, e := range events {
			if e.Introduced == "0" {
				in = true
				continue
			}
			c, err := Compare(ecosystem, version, e.version())
			if err != nil {
				return false, "", err
			}
			switch {
			case e.Introduced != "":
				if c >= 0 {
					in = true
				}
			case e.Fixed != "", e.Limit != "":
				if c >= 0 {
					in = false
				}
			case e.LastAffected != "":
				if c > 0 {
					in = false
				}
			}
		}
		if in {
			return true, fixedAbove(ecosystem, version, ranges), nil
		}
	}
	return false, "", nil
}

// fixedAbove returns the lowest fixed version above version in ranges, or "".
func fixedAbove(ecosystem, version string, ranges []osvRange) string {
	best := ""
	for _, r := range ranges {
		for _, e := range r.Events {
			if e.Fixed == "" {
				continue
			}
			if c, err := Compare(ecosystem, version, e.Fixed); err != nil || c >= 0 {
				continue
			}
			if best == "" {
				best = e.Fixed
			} else if c, err := Compare(ecosystem, e.Fixed, best); err == nil && c < 0 {
				best = e.Fixed
			}
		}
	}
	return best
}

// baseEcosystem strips the release from an OSV ecosystem: "Debian:12" → "Debian".
func baseEcosystem(ecosystem string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return base
}
