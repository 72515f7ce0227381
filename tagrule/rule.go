// Package tagrule owns tag immutability: a project's rules (repository and tag globs, matching or
// excluding, each enabled or not) and the one decision every door asks before a tag moves or goes,
// Guard.Check. The registry's index middleware asks it for every write (so /v2, the API's tag
// mutations and deletes, retention and replication all pass through it), and the /v2 door asks it
// first to answer 412. It changes nothing in storage or the index itself.
package tagrule

import (
	"context"
	"fmt"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/immutablerule"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/worker/export/glob"
)

// MaxRules is how many immutability rules a project may have, as in Harbor.
const MaxRules = 15

// Rule is one immutability rule: the tags it selects may not move or be deleted.
type Rule struct {
	ID                int    `json:"id"`
	ProjectID         int    `json:"project_id"`
	RepositoryPattern string `json:"repository_pattern"`
	RepositoryExclude bool   `json:"repository_exclude"`
	TagPattern        string `json:"tag_pattern"`
	TagExclude        bool   `json:"tag_exclude"`
	Disabled          bool   `json:"disabled"`
}

func ruleOf(r *ent.ImmutableRule) Rule {
	return Rule{ID: r.ID, ProjectID: r.ProjectID, RepositoryPattern: r.RepositoryPattern, RepositoryExclude: r.RepositoryExclude,
		TagPattern: r.TagPattern, TagExclude: r.TagExclude, Disabled: r.Disabled}
}

// Selects reports whether the rule selects tag in repository repo (the full name, with the
// project). Repository patterns match the path after the project, as Harbor's selectors do; a
// disabled rule selects nothing.
func (r Rule) Selects(repo, tag string) bool {
	if r.Disabled {
		return false
	}
	_, path, _ := strings.Cut(repo, "/")
	return match(r.RepositoryPattern, r.RepositoryExclude, path) && match(r.TagPattern, r.TagExclude, tag)
}

// Describe names the rule for messages: "rule 3 (repositories **, tags v*)".
func (r Rule) Describe() string {
	side := func(pattern string, exclude bool) string {
		if exclude {
			return "not " + pattern
		}
		return pattern
	}
	return fmt.Sprintf("rule %d (repositories %s, tags %s)", r.ID, side(r.RepositoryPattern, r.RepositoryExclude), side(r.TagPattern, r.TagExclude))
}

func match(pattern string, exclude bool, s string) bool {
	ok, err := doublestar.Match(pattern, s)
	return err == nil && ok != exclude
}

// CheckPattern validates a selector glob; what names it in the message ("repository pattern").
func CheckPattern(what, pattern string) error {
	if pattern == "" {
		return fmt.Errorf("%s is empty: use ** for everything", what)
	}
	if len(pattern) > 255 {
		return fmt.Errorf("%s is longer than 255 characters", what)
	}
	if !doublestar.ValidatePattern(pattern) {
		return fmt.Errorf("%s %q is not a valid glob", what, pattern)
	}
	if _, err := glob.Regex(pattern); err != nil {
		return fmt.Errorf("%s %q: %v", what, pattern, err)
	}
	return nil
}

// Change is one thing about to happen to a tag: it moves from digest From ("" if it does not
// exist yet) to digest To, or is deleted (To == "").
type Change struct {
	Tag, From, To string
}

// Refusal is the error of a change an immutability rule forbids.
type Refusal struct {
	Repository string
	Change     Change
	Rule       Rule
}

func (e *Refusal) Error() string {
	what := "deleted"
	if e.Change.To != "" {
		what = "moved to " + e.Change.To
	}
	return fmt.Sprintf("tag %s:%s is immutable under %s: it cannot be %s (it points at %s)",
		e.Repository, e.Change.Tag, e.Rule.Describe(), what, e.Change.From)
}

// Guard decides whether tags may move or be deleted.
type Guard struct {
	db *ent.Client
}

// NewGuard returns the guard reading rules from db.
func NewGuard(db *ent.Client) *Guard { return &Guard{db: db} }

// Check is the one decision: nil if every change may happen to repository repo (the full name),
// else a *Refusal naming the first tag and the rule that protects it. Creating a tag and pointing
// a tag at the digest it already has are never refused; moving or deleting a selected tag is.
func (g *Guard) Check(ctx context.Context, repo string, changes ...Change) error {
	var pending []Change
	for _, c := range changes {
		if c.From != "" && c.From != c.To {
			pending = append(pending, c)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	projectName, _, _ := strings.Cut(repo, "/")
	rows, err := g.db.ImmutableRule.Query().
		Where(immutablerule.Disabled(false), immutablerule.HasProjectWith(project.Name(projectName))).
		Order(immutablerule.ByID()).All(ctx)
	if err != nil {
		return fmt.Errorf("immutability rules of %s: %w", projectName, err)
	}
	for _, c := range pending {
		for _, row := range rows {
			if r := ruleOf(row); r.Selects(repo, c.Tag) {
				return &Refusal{Repository: repo, Change: c, Rule: r}
			}
		}
	}
	return nil
}

// Protected reports, for each of tags in repository repo (the full name), whether an enabled
// rule of its project selects it (Harbor's "immutable" of a tag), with one query whatever the
// number of tags.
func (g *Guard) Protected(ctx context.Context, repo string, tags []string) ([]bool, error) {
	out := make([]bool, len(tags))
	if len(tags) == 0 {
		return out, nil
	}
	projectName, _, _ := strings.Cut(repo, "/")
	rows, err := g.db.ImmutableRule.Query().
		Where(immutablerule.Disabled(false), immutablerule.HasProjectWith(project.Name(projectName))).
		Order(immutablerule.ByID()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("immutability rules of %s: %w", projectName, err)
	}
	for i, tag := range tags {
		for _, row := range rows {
			if ruleOf(row).Selects(repo, tag) {
				out[i] = true
				break
			}
		}
	}
	return out, nil
}
