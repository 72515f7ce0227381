// Package retention owns tag retention (Harbor's semantics): a project's policy of rules, each
// scoped by a repository glob and a tag glob (matching or excluding, untagged artifacts included
// or not) and keeping the N most recently pushed, the N most recently pulled, those pushed or
// pulled within N days, or always; an artifact survives if any rule keeps it, and the rest of the
// artifacts of the repositories the rules scope are deleted. Evaluate decides, runs carry it out
// (run.go) through the registry's delete path, which the tag immutability rules guard.
package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/berth-registry/berth/tagrule"
)

// MaxRules is how many rules a policy may have, as in Harbor.
const MaxRules = 15

// The templates of a rule: what it keeps among the artifacts it selects (Harbor's names).
const (
	LatestPushed   = "latestPushedK"      // the N most recently pushed
	LatestPulled   = "latestPulledN"      // the N most recently pulled
	PushedWithin   = "nDaysSinceLastPush" // pushed within the last N days
	PulledWithin   = "nDaysSinceLastPull" // pulled within the last N days
	Always         = "always"             // everything it selects
	maxRuleN       = 100000
	maxPatternSize = 255
)

// Rule is one retention rule.
type Rule struct {
	Template          string `json:"template"`
	N                 int    `json:"n"`
	RepositoryPattern string `json:"repository_pattern"`
	RepositoryExclude bool   `json:"repository_exclude"`
	TagPattern        string `json:"tag_pattern"`
	TagExclude        bool   `json:"tag_exclude"`
	Untagged          bool   `json:"untagged"` // untagged artifacts are selected too
	Disabled          bool   `json:"disabled"`
}

// Check says what is wrong with r, if anything.
func (r Rule) Check() error {
	switch r.Template {
	case LatestPushed, LatestPulled, PushedWithin, PulledWithin:
		if r.N < 1 || r.N > maxRuleN {
			return fmt.Errorf("rule %s needs a count from 1 to %d, not %d", r.Template, maxRuleN, r.N)
		}
	case Always:
	default:
		return fmt.Errorf("unknown rule template %q: use %s, %s, %s, %s or %s", r.Template, LatestPushed, LatestPulled, PushedWithin, PulledWithin, Always)
	}
	if err := tagrule.CheckPattern("repository pattern", r.RepositoryPattern); err != nil {
		return err
	}
	return tagrule.CheckPattern("tag pattern", r.TagPattern)
}

// scopes reports whether the rule applies to repository path (without the project).
func (r Rule) scopes(path string) bool {
	ok, err := doublestar.Match(r.RepositoryPattern, path)
	return !r.Disabled && err == nil && ok != r.RepositoryExclude
}

// selects reports whether the rule considers artifact c (in a repository it scopes).
func (r Rule) selects(c Candidate) bool {
	if len(c.Tags) == 0 {
		return r.Untagged
	}
	for _, t := range c.Tags {
		if ok, err := doublestar.Match(r.TagPattern, t); err == nil && ok != r.TagExclude {
			return true
		}
	}
	return false
}

// Candidate is an artifact retention may keep or delete: accessories and index children are not
// candidates (they go with their subject or index).
type Candidate struct {
	ID         int
	Repository string // full name, with the project
	Digest     string
	Tags       []string
	PushedAt   time.Time
	PulledAt   *time.Time
}

// Decision is what Evaluate decided about one candidate, and why.
type Decision struct {
	Candidate
	Keep   bool
	Reason string // which rule kept it, or why nothing did
}

// Evaluate applies rules to candidates (of one project) at time now. Repositories no rule scopes
// are left alone (their candidates are not in the result); in the others, an artifact is kept if
// any rule keeps it, or if it was pushed or pulled within grace (a window that protects what is
// in use right now), and deleted otherwise. Decisions come in repository, then push-time order.
func Evaluate(rules []Rule, candidates []Candidate, now time.Time, grace time.Duration) []Decision {
	byRepo := map[string][]Candidate{}
	for _, c := range candidates {
		byRepo[c.Repository] = append(byRepo[c.Repository], c)
	}
	repos := make([]string, 0, len(byRepo))
	for r := range byRepo {
		repos = append(repos, r)
	}
	slices.Sort(repos)
	var out []Decision
	for _, repo := range repos {
		_, path, _ := strings.Cut(repo, "/")
		cs := byRepo[repo]
		slices.SortFunc(cs, func(a, b Candidate) int { return cmp.Or(b.PushedAt.Compare(a.PushedAt), cmp.Compare(a.ID, b.ID)) })
		kept := map[int]string{}
		scoped := false
		for i, r := range rules {
			if !r.scopes(path) {
				continue
			}
			scoped = true
			for id := range keeps(r, cs, now) {
				if _, ok := kept[id]; !ok {
					kept[id] = fmt.Sprintf("rule %d (%s %d)", i+1, r.Template, r.N)
				}
			}
		}
		if !scoped {
			continue
		}
		for _, c := range cs {
			d := Decision{Candidate: c}
			switch reason, ok := kept[c.ID]; {
			case ok:
				d.Keep, d.Reason = true, "kept by "+reason
			case grace > 0 && (now.Sub(c.PushedAt) < grace || (c.PulledAt != nil && now.Sub(*c.PulledAt) < grace)):
				d.Keep, d.Reason = true, "pushed or pulled within the grace window"
			default:
				d.Reason = "no rule keeps it"
			}
			out = append(out, d)
		}
	}
	return out
}

// keeps is the set of candidates (newest push first) rule r keeps.
func keeps(r Rule, cs []Candidate, now time.Time) map[int]bool {
	var sel []Candidate
	for _, c := range cs {
		if r.selects(c) {
			sel = append(sel, c)
		}
	}
	out := map[int]bool{}
	days := time.Duration(r.N) * 24 * time.Hour
	switch r.Template {
	case Always:
		for _, c := range sel {
			out[c.ID] = true
		}
	case LatestPushed:
		for _, c := range sel[:min(r.N, len(sel))] {
			out[c.ID] = true
		}
	case LatestPulled:
		var pulled []Candidate
		for _, c := range sel {
			if c.PulledAt != nil {
				pulled = append(pulled, c)
			}
		}
		slices.SortStableFunc(pulled, func(a, b Candidate) int { return b.PulledAt.Compare(*a.PulledAt) })
		for _, c := range pulled[:min(r.N, len(pulled))] {
			out[c.ID] = true
		}
	case PushedWithin:
		for _, c := range sel {
			if now.Sub(c.PushedAt) <= days {
				out[c.ID] = true
			}
		}
	case PulledWithin:
		for _, c := range sel {
			if c.PulledAt != nil && now.Sub(*c.PulledAt) <= days {
				out[c.ID] = true
			}
		}
	}
	return out
}
