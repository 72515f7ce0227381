package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/cveexport"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/export"
)

// scanDataType is the only X-Scan-Data-Type Harbor's export accepts.
const scanDataType = "application/vnd.security.vulnerability.report; version=1.1"

// exportRoutes adds Harbor's CVE export API (harbor-compat §2): start, status, list, download.
func (h *rest) exportRoutes() {
	h.mux.HandleFunc("POST /api/v2.0/export/cve", h.startExport)
	h.mux.HandleFunc("GET /api/v2.0/export/cve/execution/{id}", h.getExport)
	h.mux.HandleFunc("GET /api/v2.0/export/cve/executions", h.listExports)
	h.mux.HandleFunc("GET /api/v2.0/export/cve/download/{id}", h.downloadExport)
}

func (h *rest) startExport(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Scan-Data-Type"); got != scanDataType {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "X-Scan-Data-Type must be "+strconv.Quote(scanDataType))
		return
	}
	var body struct {
		JobName      string  `json:"job_name"`
		Projects     []int   `json:"projects"`
		Repositories *string `json:"repositories"`
		Tags         *string `json:"tags"`
		Labels       []int   `json:"labels"`
		CVEIDs       *string `json:"cveIds"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON body: "+err.Error())
		return
	}
	e, err := h.exports.Request(r.Context(), export.Request{JobName: body.JobName, Projects: body.Projects, Labels: body.Labels,
		Repositories: body.Repositories, Tags: body.Tags, CVEIDs: body.CVEIDs})
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"id": e.ID})
}

// exportID reads the {id} path value.
func exportID(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return 0, fault.NotFound("CVE export " + r.PathValue("id"))
	}
	return id, nil
}

// harborExecution is Harbor's ScanDataExportExecution.
type harborExecution struct {
	ID          int        `json:"id"`
	UserID      int        `json:"user_id"`
	UserName    string     `json:"user_name"`
	JobName     string     `json:"job_name"`
	Status      string     `json:"status"`
	StatusText  string     `json:"status_text"`
	Trigger     string     `json:"trigger"`
	StartTime   time.Time  `json:"start_time"`
	EndTime     *time.Time `json:"end_time,omitempty"`
	FilePresent bool       `json:"file_present"`
}

func toHarborExecution(e *ent.CVEExport) harborExecution {
	out := harborExecution{ID: e.ID, UserName: e.Owner, JobName: e.JobName, StatusText: e.StatusText, Trigger: "MANUAL",
		StartTime: e.CreatedAt, EndTime: e.FinishedAt,
		FilePresent: e.Status == cveexport.StatusSuccess && e.FilePath != ""}
	if e.OwnerUserID != nil {
		out.UserID = *e.OwnerUserID
	}
	if e.StartedAt != nil {
		out.StartTime = *e.StartedAt
	}
	out.Status = map[cveexport.Status]string{cveexport.StatusPending: "Pending", cveexport.StatusRunning: "Running",
		cveexport.StatusStopped: "Stopped", cveexport.StatusError: "Error", cveexport.StatusSuccess: "Success"}[e.Status]
	return out
}

func (h *rest) getExport(w http.ResponseWriter, r *http.Request) {
	id, err := exportID(r)
	var e *ent.CVEExport
	if err == nil {
		e, err = h.exports.Get(r.Context(), id)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborExecution(e))
}

func (h *rest) listExports(w http.ResponseWriter, r *http.Request) {
	all, err := h.exports.Mine(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	items := make([]harborExecution, len(all))
	for i, e := range all {
		items[i] = toHarborExecution(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// downloadExport sends the file once: the execution is gone as soon as the download starts and
// the file when it ends, so a second download is 404.
func (h *rest) downloadExport(w http.ResponseWriter, r *http.Request) {
	id, err := exportID(r)
	var e *ent.CVEExport
	var file io.ReadCloser
	if err == nil {
		e, file, err = h.exports.Download(r.Context(), id)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	defer file.Close()
	w.Header().Set("Content-Type", "text/csv")
	w.Header().Set("Content-Disposition", `attachment; filename="`+export.FileName(id)+`"`)
	w.Header().Set("Content-Length", strconv.FormatInt(e.Size, 10))
	if _, err := io.Copy(w, file); err != nil {
		h.log.Warn("rest: CVE export download interrupted", "export", id, "err", err)
	}
}
