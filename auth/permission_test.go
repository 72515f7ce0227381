package auth_test

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent/member"
)

// harborRoleTable is the role table of harbor-compat §1, pasted as it stands in the spec, so that
// a reviewer can compare it with the spec character by character. It is deliberately not derived
// from the implementation: the test below holds auth.Allows against it.
const harborRoleTable = `
| capability | PA | Maint | Dev | Guest | LtdGuest | anyone, public project |
|---|---|---|---|---|---|---|
| pull | y | y | y | y | y | y |
| push | y | y | y | | | |
| delete artifact / repository | y | y | | | | |
| create tag / delete tag | y/y | y/y | y/- | | | |
| add or remove artifact label | y | y | y | | | |
| start or stop a scan | y | y | | | | |
| read scan reports | y | y | y | y | y | y |
| CVE export (create, read, list) | y | y | y | | | |
| project audit log | y | y | y | y | | |
| manage members | y | read | read | read | | |
| project settings | y | y | | | | |
| robot accounts | y | read | read | read | | |
| webhook policies | y | list | | | | |
`

// harborExtraRows are the project actions the spec's table leaves implicit (or Harbor lacks), in the same form:
// every member (and anyone, for a public project) sees the project, and only a project admin may
// delete it, as in Harbor.
const harborExtraRows = `
| see the project | y | y | y | y | y | y |
| delete the project | y | | | | | |
| manage the trust policy | y | | | | | |
| project quota | read | read | read | read | | |
| tag retention | y | y | read | read | | |
| immutable tags | y | y | list | list | | |
`

// capabilityActions says which actions each capability of the table stands for. A cell grants the
// actions listed under its word ("y", "read", "list"); an empty cell or "-" grants nothing.
var capabilityActions = map[string]map[string][]auth.Action{
	"pull":                            {"y": {auth.ActionPull}},
	"push":                            {"y": {auth.ActionPush}},
	"delete artifact / repository":    {"y": {auth.ActionDeleteArtifact}},
	"create tag":                      {"y": {auth.ActionCreateTag}},
	"delete tag":                      {"y": {auth.ActionDeleteTag}},
	"add or remove artifact label":    {"y": {auth.ActionLabelArtifact}},
	"start or stop a scan":            {"y": {auth.ActionScan}},
	"read scan reports":               {"y": {auth.ActionReadScan}},
	"CVE export (create, read, list)": {"y": {auth.ActionExportCVE}},
	"project audit log":               {"y": {auth.ActionReadLog}},
	"manage members": {
		"y":    {auth.ActionManageMembers, auth.ActionReadMembers},
		"read": {auth.ActionReadMembers},
	},
	"project settings": {"y": {auth.ActionUpdateProject, auth.ActionManageLabels}}, // labels are a project setting in Harbor
	"robot accounts": {
		"y":    {auth.ActionManageRobots, auth.ActionReadRobots},
		"read": {auth.ActionReadRobots},
	},
	"webhook policies": {
		"y":    {auth.ActionManageWebhooks, auth.ActionListWebhooks},
		"list": {auth.ActionListWebhooks},
	},
	"see the project": {"y": {auth.ActionReadProject}},
	// Harbor's rbac: members read their project's quota; only system administrators change it.
	"project quota": {"read": {auth.ActionReadQuota}, "admin": {auth.ActionUpdateQuota}},
	"tag retention": {
		"y":    {auth.ActionReadRetention, auth.ActionManageRetention, auth.ActionRunRetention},
		"read": {auth.ActionReadRetention},
	},
	"immutable tags": {
		"y":    {auth.ActionListImmutable, auth.ActionManageImmutable},
		"list": {auth.ActionListImmutable},
	},
	"delete the project":      {"y": {auth.ActionDeleteProject}},
	"manage the trust policy": {"y": {auth.ActionManageTrustPolicy}},
}

// tableColumns are the table's columns after the capability, in order.
var tableColumns = []struct {
	heading string
	role    member.Role // empty for the public column
}{
	{"PA", member.RoleProjectAdmin},
	{"Maint", member.RoleMaintainer},
	{"Dev", member.RoleDeveloper},
	{"Guest", member.RoleGuest},
	{"LtdGuest", member.RoleLimitedGuest},
	{"anyone, public project", ""},
}

// parseRoleTable turns the markdown table into, per column heading, the set of granted actions.
// A row whose cells hold "a/b" stands for two capabilities ("create tag / delete tag"): the name
// and the cells are split on the slash together.
func parseRoleTable(t *testing.T, tables ...string) map[string]map[auth.Action]bool {
	t.Helper()
	granted := map[string]map[auth.Action]bool{}
	for _, c := range tableColumns {
		granted[c.heading] = map[auth.Action]bool{}
	}
	for _, table := range tables {
		for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			if len(cells) != len(tableColumns)+1 {
				t.Fatalf("row %q has %d cells, want %d", line, len(cells), len(tableColumns)+1)
			}
			if strings.HasPrefix(cells[0], "---") {
				continue
			}
			if cells[0] == "capability" {
				for i, c := range tableColumns {
					if cells[i+1] != c.heading {
						t.Fatalf("column %d of the spec table is %q, the test expects %q", i+1, cells[i+1], c.heading)
					}
				}
				continue
			}
			names := []string{cells[0]}
			split := false
			for _, cell := range cells[1:] {
				split = split || strings.Contains(cell, "/")
			}
			if split {
				names = strings.Split(cells[0], " / ")
			}
			for n, name := range names {
				words, ok := capabilityActions[name]
				if !ok {
					t.Fatalf("capability %q of the spec table has no actions in capabilityActions", name)
				}
				for i, c := range tableColumns {
					cell := cells[i+1]
					if split && cell != "" {
						parts := strings.Split(cell, "/")
						if len(parts) != len(names) {
							t.Fatalf("row %q, column %s: %q does not split into %d", cells[0], c.heading, cell, len(names))
						}
						cell = parts[n]
					}
					if cell == "" || cell == "-" {
						continue
					}
					actions, ok := words[cell]
					if !ok {
						t.Fatalf("row %q, column %s: unknown cell %q", name, c.heading, cell)
					}
					for _, a := range actions {
						granted[c.heading][a] = true
					}
				}
			}
		}
	}
	return granted
}

// TestAllowsMatchesHarborRoleTable walks every role and every project action, for a private and a
// public project, plus non-members, anonymous callers and system admins, and checks both the
// allowed and the denied cells against the spec's table.
func TestAllowsMatchesHarborRoleTable(t *testing.T) {
	t.Parallel()
	granted := parseRoleTable(t, harborRoleTable, harborExtraRows)

	// Every action the implementation knows must come from some row of the table, and every action
	// the table names must be one the implementation checks: else the two have drifted apart.
	known := map[auth.Action]bool{}
	for _, a := range auth.ProjectActions {
		known[a] = true
	}
	covered := map[auth.Action]bool{}
	for _, words := range capabilityActions {
		for _, actions := range words {
			for _, a := range actions {
				covered[a] = true
				if !known[a] {
					t.Errorf("the table grants %s, which is not in auth.ProjectActions", a)
				}
			}
		}
	}
	for _, a := range auth.ProjectActions {
		if !covered[a] {
			t.Errorf("auth.ProjectActions has %s, which no row of the spec table covers", a)
		}
	}

	public := granted["anyone, public project"]
	for _, action := range auth.ProjectActions {
		for _, c := range tableColumns[:5] {
			want := granted[c.heading][action]
			if got := (auth.Access{Role: c.role}).Allows(action); got != want {
				t.Errorf("%s in a private project, %s: allowed=%v, want %v", c.heading, action, got, want)
			}
			// A member of a public project keeps the role's rights and gains the public ones.
			if got := (auth.Access{Role: c.role, Public: true}).Allows(action); got != (want || public[action]) {
				t.Errorf("%s in a public project, %s: allowed=%v, want %v", c.heading, action, got, want || public[action])
			}
		}
		// Anonymous callers and logged-in non-members look the same to the table: no role.
		if got := (auth.Access{Public: true}).Allows(action); got != public[action] {
			t.Errorf("anonymous or non-member in a public project, %s: allowed=%v, want %v", action, got, public[action])
		}
		if (auth.Access{}).Allows(action) {
			t.Errorf("anonymous or non-member in a private project: %s allowed, want denied", action)
		}
		for _, pub := range []bool{false, true} {
			if !(auth.Access{Admin: true, Public: pub}).Allows(action) {
				t.Errorf("system admin (public project %v): %s denied, want allowed", pub, action)
			}
		}
	}
}

// TestRoleTableParserReadsSplitAndWordCells guards the parser itself: were it to misread the
// slash and word cells, the test above could pass against a wrong table.
func TestRoleTableParserReadsSplitAndWordCells(t *testing.T) {
	t.Parallel()
	granted := parseRoleTable(t, harborRoleTable, harborExtraRows)
	checks := []struct {
		column string
		action auth.Action
		want   bool
	}{
		{"Dev", auth.ActionCreateTag, true},
		{"Dev", auth.ActionDeleteTag, false},
		{"Maint", auth.ActionDeleteTag, true},
		{"Guest", auth.ActionCreateTag, false},
		{"Maint", auth.ActionReadMembers, true},
		{"Maint", auth.ActionManageMembers, false},
		{"PA", auth.ActionManageMembers, true},
		{"Maint", auth.ActionListWebhooks, true},
		{"Maint", auth.ActionManageWebhooks, false},
		{"Dev", auth.ActionListWebhooks, false},
		{"LtdGuest", auth.ActionReadRobots, false},
		{"anyone, public project", auth.ActionReadScan, true},
		{"anyone, public project", auth.ActionReadProject, true},
		{"anyone, public project", auth.ActionPush, false},
	}
	for _, c := range checks {
		if got := granted[c.column][c.action]; got != c.want {
			t.Errorf("parsed table, %s / %s = %v, want %v", c.column, c.action, got, c.want)
		}
	}
}
