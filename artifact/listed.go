package artifact

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/accessory"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/predicate"
	"github.com/berth-registry/berth/ent/tag"
	"github.com/berth-registry/berth/fault"
)

// maxSearch bounds a list's search text: longer than any tag or digest.
const maxSearch = 128

// ListedQuery is the query of repo's artifacts as a list shows them (repo is one the caller has
// been shown): an index's children are listed under their index, not on their own, unless a tag
// names them; accessories (signatures, SBOMs) are listed under their subject. search, when not
// empty, keeps the artifacts with a tag containing it (case-insensitively) or a digest starting
// with it ("sha256:" may be left out).
func (s *Service) ListedQuery(repo *ent.Repository, search string) (*ent.ArtifactQuery, error) {
	q := repo.QueryArtifacts().Where(
		entartifact.Or(entartifact.Not(entartifact.HasParents()), entartifact.HasTags()),
		entartifact.Not(entartifact.HasAccessoryLinks()),
	)
	search = strings.TrimSpace(search)
	if search == "" {
		return q, nil
	}
	if len(search) > maxSearch || strings.IndexFunc(search, unicode.IsControl) >= 0 {
		return nil, fault.BadInput("search: up to %d characters, none of them control characters", maxSearch)
	}
	match := []predicate.Artifact{entartifact.HasTagsWith(tag.NameContainsFold(search))}
	d := strings.ToLower(search)
	if !strings.Contains(d, ":") {
		d = "sha256:" + d
	}
	match = append(match, entartifact.DigestHasPrefix(d))
	return q.Where(entartifact.Or(match...)), nil
}

// Platform is the os, architecture and variant an image was built for, from its config.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant"`
	OSVersion    string `json:"os.version"`
}

// PlatformOf reads a's platform from its image config; nil when a has none (an index, an artifact
// that is not an image, a config too large to keep).
func PlatformOf(a *ent.Artifact) *Platform {
	if a.Config == "" {
		return nil
	}
	var p Platform
	if err := json.Unmarshal([]byte(a.Config), &p); err != nil || (p.OS == "" && p.Architecture == "") {
		return nil
	}
	return &p
}

// AccessoriesOf returns, for each subject (artifacts the caller has been shown), the artifacts
// whose subject it is, in one query.
func (s *Service) AccessoriesOf(ctx context.Context, subjects []Subject) ([][]*ent.Artifact, error) {
	match := make([]predicate.Accessory, len(subjects))
	for i, k := range subjects {
		match[i] = accessory.And(accessory.RepositoryID(k.RepositoryID), accessory.SubjectDigest(k.Digest))
	}
	links, err := s.db.Accessory.Query().Where(accessory.Or(match...)).WithArtifact().
		Order(ent.Asc(accessory.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("accessories: %w", err)
	}
	found := make(map[Subject][]*ent.Artifact, len(links))
	for _, l := range links {
		k := Subject{l.RepositoryID, l.SubjectDigest}
		found[k] = append(found[k], l.Edges.Artifact)
	}
	out := make([][]*ent.Artifact, len(subjects))
	for i, k := range subjects {
		out[i] = found[k]
		if out[i] == nil {
			out[i] = []*ent.Artifact{}
		}
	}
	return out, nil
}

// ChildPlatforms returns, for each index id (artifacts the caller has been shown), the platforms
// of its children, sorted and without repeats, in two queries.
func (s *Service) ChildPlatforms(ctx context.Context, ids []int) ([][]Platform, error) {
	parents, err := s.db.Artifact.Query().Where(entartifact.IDIn(ids...)).Select(entartifact.FieldID).
		WithChildren(func(q *ent.ArtifactQuery) { q.Select(entartifact.FieldID, entartifact.FieldConfig) }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("platforms of index children: %w", err)
	}
	byID := make(map[int][]Platform, len(parents))
	for _, p := range parents {
		seen := map[Platform]bool{}
		for _, c := range p.Edges.Children {
			if pl := PlatformOf(c); pl != nil && !seen[*pl] {
				seen[*pl] = true
				byID[p.ID] = append(byID[p.ID], *pl)
			}
		}
		slices.SortFunc(byID[p.ID], func(a, b Platform) int {
			return strings.Compare(a.OS+"/"+a.Architecture+"/"+a.Variant, b.OS+"/"+b.Architecture+"/"+b.Variant)
		})
	}
	out := make([][]Platform, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
		if out[i] == nil {
			out[i] = []Platform{}
		}
	}
	return out, nil
}

// GetMany is Get for a page of artifacts: one query loads them with their repositories and
// projects, and each project is authorized once. errs[i] is Get's error for ids[i].
func (s *Service) GetMany(ctx context.Context, ids []int, action auth.Action) ([]*ent.Artifact, []error) {
	out := make([]*ent.Artifact, len(ids))
	errs := make([]error, len(ids))
	found, err := s.db.Artifact.Query().Where(entartifact.IDIn(ids...)).
		WithRepository(func(q *ent.RepositoryQuery) { q.WithProject() }).All(ctx)
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("load artifacts: %w", err)
		}
		return out, errs
	}
	byID := make(map[int]*ent.Artifact, len(found))
	for _, a := range found {
		byID[a.ID] = a
	}
	decided := map[int]error{}
	for i, id := range ids {
		what := fmt.Sprintf("artifact %d", id)
		a := byID[id]
		if a == nil {
			errs[i] = fault.NotFound(what)
			continue
		}
		proj := a.Edges.Repository.Edges.Project
		verdict, ok := decided[proj.ID]
		if !ok {
			verdict = s.projects.Authorize(ctx, proj, action)
			decided[proj.ID] = verdict
		}
		if fault.IsNotFound(verdict) {
			errs[i] = fault.NotFound(what)
		} else if verdict != nil {
			errs[i] = verdict
		} else {
			out[i] = a
		}
	}
	return out, errs
}
