package graph

import (
	"fmt"

	"github.com/berth-registry/berth/graph/model"
	"github.com/berth-registry/berth/worker/export"
)

// ExportDownloadPath is where the owner downloads an export's file (Harbor's REST path).
func ExportDownloadPath(id int) string { return fmt.Sprintf("/api/v2.0/export/cve/download/%d", id) }

// exportRequest reads an export's filters from GraphQL input.
func exportRequest(input model.ExportCVEInput) export.Request {
	req := export.Request{Projects: input.Projects, Labels: input.Labels,
		Repositories: input.Repositories, Tags: input.Tags, CVEIDs: input.CveIds}
	if input.JobName != nil {
		req.JobName = *input.JobName
	}
	return req
}
