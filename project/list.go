package project

import (
	"context"
	"fmt"
	"strconv"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/member"
	entproject "github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/user"
	"github.com/berth-registry/berth/fault"
)

// MaxPage is the most items one page of a list holds.
const MaxPage = 100

// Page is a slice of a list: Limit items after the first Offset.
type Page struct {
	Offset, Limit int
}

// Check refuses a page that is out of range, so that no list loads a whole table.
func (p Page) Check() error {
	if p.Offset < 0 {
		return fault.BadInput("page offset %d is negative", p.Offset)
	}
	if p.Limit < 1 || p.Limit > MaxPage {
		return fault.BadInput("page size %d is out of range: ask for 1 to %d items", p.Limit, MaxPage)
	}
	return nil
}

// Query is the set of projects the caller may see, for a caller that pages through it itself.
func (s *Service) Query(ctx context.Context) *ent.ProjectQuery {
	return s.db.Project.Query().Where(auth.VisibleProjects(auth.PrincipalFrom(ctx)))
}

// Ref names a project as a caller does: by id, or by name when Name is set.
type Ref struct {
	ID   int
	Name string
}

// ParseRef reads a reference from a path: a number is an id unless byName says it is a name.
func ParseRef(s string, byName bool) Ref {
	if id, err := strconv.Atoi(s); err == nil && !byName {
		return Ref{ID: id}
	}
	return Ref{Name: s}
}

func (r Ref) String() string {
	if r.Name != "" {
		return "project " + r.Name
	}
	return fmt.Sprintf("project %d", r.ID)
}

// Find loads a project the caller may see; one they may not is not found.
func (s *Service) Find(ctx context.Context, ref Ref) (*ent.Project, error) {
	q := s.Query(ctx)
	if ref.Name != "" {
		q = q.Where(entproject.Name(ref.Name))
	} else {
		q = q.Where(entproject.ID(ref.ID))
	}
	proj, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(ref.String())
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", ref, err)
	}
	return proj, nil
}

// ListOptions selects a page of the projects the caller may see, in name order.
type ListOptions struct {
	NameContains string // only projects whose name contains this
	Name         string // only the project of this exact name
	Public       *bool  // only public (true) or private (false) projects
	// Owner keeps the projects whose project admins include the user of this name: Berth makes
	// a project's creator its project admin, which is what Harbor's owner is.
	Owner string
	Page
}

// Listed is one project of a list, with what a list shows of it.
type Listed struct {
	*ent.Project
	Repositories int
}

// List returns a page of the projects the caller may see, and how many there are in all.
func (s *Service) List(ctx context.Context, opts ListOptions) ([]Listed, int, error) {
	if err := opts.Check(); err != nil {
		return nil, 0, err
	}
	q := s.Query(ctx)
	if opts.NameContains != "" {
		q = q.Where(entproject.NameContains(opts.NameContains))
	}
	if opts.Name != "" {
		q = q.Where(entproject.Name(opts.Name))
	}
	if opts.Public != nil {
		q = q.Where(entproject.Public(*opts.Public))
	}
	if opts.Owner != "" {
		q = q.Where(entproject.HasMembersWith(member.RoleEQ(member.RoleProjectAdmin), member.HasUserWith(user.Username(opts.Owner))))
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("count projects: %w", err)
	}
	projects, err := q.Order(ent.Asc(entproject.FieldName)).Offset(opts.Offset).Limit(opts.Limit).All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list projects: %w", err)
	}
	ids := make([]int, len(projects))
	for i, p := range projects {
		ids[i] = p.ID
	}
	counts, err := s.RepositoryCounts(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Listed, len(projects))
	for i, p := range projects {
		out[i] = Listed{Project: p, Repositories: counts[i]}
	}
	return out, total, nil
}

// RepositoryCounts is how many repositories each project in ids holds, in the order of ids, in one
// query. The caller has already been shown the projects.
func (s *Service) RepositoryCounts(ctx context.Context, ids []int) ([]int, error) {
	var rows []struct {
		ProjectID int `json:"project_id"`
		Count     int `json:"count"`
	}
	err := s.db.Repository.Query().Where(repository.ProjectIDIn(ids...)).
		GroupBy(repository.FieldProjectID).Aggregate(ent.Count()).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("count repositories: %w", err)
	}
	byID := make(map[int]int, len(rows))
	for _, row := range rows {
		byID[row.ProjectID] = row.Count
	}
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// StorageUsed is how many bytes of storage each project in ids uses, in the order of ids, in one
// query. A blob shared by several artifacts of a project is stored once, so it counts once.
func (s *Service) StorageUsed(ctx context.Context, ids []int) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT p.project_id, COALESCE(SUM(b.size), 0)::bigint
		FROM (SELECT DISTINCT r.project_id, ab.blob_id
		      FROM repositories r
		      JOIN artifacts a ON a.repository_id = r.id
		      JOIN artifact_blobs ab ON ab.artifact_id = a.id
		      WHERE r.project_id = ANY($1)) p
		JOIN blobs b ON b.id = p.blob_id
		GROUP BY p.project_id`, ids)
	if err != nil {
		return nil, fmt.Errorf("storage used: %w", err)
	}
	defer rows.Close()
	byID := make(map[int]int64, len(ids))
	for rows.Next() {
		var id int
		var size int64
		if err := rows.Scan(&id, &size); err != nil {
			return nil, fmt.Errorf("storage used: %w", err)
		}
		byID[id] = size
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage used: %w", err)
	}
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

// Roles is the caller's role in each project in ids (nil where they are no member, and everywhere
// for a caller who is no user account), in the order of ids, in one query.
func (s *Service) Roles(ctx context.Context, ids []int) ([]*member.Role, error) {
	out := make([]*member.Role, len(ids))
	p := auth.PrincipalFrom(ctx)
	if p.Kind != auth.KindUser {
		return out, nil
	}
	ms, err := s.db.Member.Query().Where(member.UserID(p.UserID), member.ProjectIDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("look up roles: %w", err)
	}
	byID := make(map[int]member.Role, len(ms))
	for _, m := range ms {
		byID[m.ProjectID] = m.Role
	}
	for i, id := range ids {
		if role, ok := byID[id]; ok {
			out[i] = &role
		}
	}
	return out, nil
}

// PermissionsIn lists what the caller may do in each project in ids, in the order of ids (empty
// for a project that does not exist or that the caller may not see), in two queries whatever the
// number of projects: what a page of projects shows as each one's myPermissions.
func (s *Service) PermissionsIn(ctx context.Context, ids []int) ([][]auth.Action, error) {
	projs, err := s.db.Project.Query().Where(entproject.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load projects: %w", err)
	}
	roles, err := s.Roles(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[int]*ent.Project, len(projs))
	for _, proj := range projs {
		byID[proj.ID] = proj
	}
	p := auth.PrincipalFrom(ctx)
	out := make([][]auth.Action, len(ids))
	for i, id := range ids {
		out[i] = []auth.Action{}
		if proj, ok := byID[id]; ok {
			out[i] = auth.PermissionsWith(p, proj, auth.AccessWithRole(p, proj, roles[i]))
		}
	}
	return out, nil
}

// Owners is, for each of projects (ones the caller has been shown), its owner as Harbor answers
// it: the project administrator who has been one longest (the creator, unless removed), or nil
// if none is left. One query for the whole page, as the Owner filter reads the same members.
func (s *Service) Owners(ctx context.Context, projects []*ent.Project) ([]*ent.User, error) {
	out := make([]*ent.User, len(projects))
	if len(projects) == 0 {
		return out, nil
	}
	ids := make([]int, len(projects))
	for i, p := range projects {
		ids[i] = p.ID
	}
	admins, err := s.db.Member.Query().
		Where(member.RoleEQ(member.RoleProjectAdmin), member.ProjectIDIn(ids...)).
		Order(ent.Asc(member.FieldCreatedAt), ent.Asc(member.FieldID)).WithUser().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("project owners: %w", err)
	}
	first := map[int]*ent.User{}
	for _, m := range admins {
		if _, ok := first[m.ProjectID]; !ok && m.Edges.User != nil {
			first[m.ProjectID] = m.Edges.User
		}
	}
	for i, p := range projects {
		out[i] = first[p.ID]
	}
	return out, nil
}
