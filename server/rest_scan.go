package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/scanreport"
	"github.com/berth-registry/berth/worker/scan"
)

// addScanRoutes adds Harbor's scan endpoints: start and stop a scan, and the vulnerability report.
func (h *rest) addScanRoutes() {
	const art = "/api/v2.0/projects/{project}/repositories/{repo}/artifacts/{reference}"
	h.mux.HandleFunc("POST "+art+"/scan", h.scanArtifact)
	h.mux.HandleFunc("POST "+art+"/scan/stop", h.stopScan)
	h.mux.HandleFunc("GET "+art+"/additions/vulnerabilities", h.vulnerabilities)
}

// artifactOf loads the artifact the path names, if the caller may see it (the scan service
// checks what they may do to it).
func (h *rest) artifactOf(r *http.Request) (*ent.Artifact, error) {
	return h.artifacts.ByReference(r.Context(), repositoryName(r), r.PathValue("reference"))
}

func (h *rest) scanArtifact(w http.ResponseWriter, r *http.Request) {
	a, err := h.artifactOf(r)
	if err == nil {
		_, err = h.scans.ScanArtifact(r.Context(), a.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *rest) stopScan(w http.ResponseWriter, r *http.Request) {
	a, err := h.artifactOf(r)
	if err == nil {
		_, err = h.scans.StopArtifact(r.Context(), a.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// harborSeverity is the protocol's spelling of a stored severity: "HIGH" → "High".
func harborSeverity(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s[:1] + strings.ToLower(s[1:])
}

// vulnerabilities answers Harbor's report addition: the report type mapped to the latest report
// of the project's scanner (the union over an index's children), or {} if never scanned.
func (h *rest) vulnerabilities(w http.ResponseWriter, r *http.Request) {
	a, err := h.artifactOf(r)
	var o *scan.Overview
	if err == nil {
		o, err = h.scans.Overview(r.Context(), a.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	if o == nil || o.Status != scanreport.StatusSuccess {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	generated := o.StartedAt
	for _, rep := range o.Reports {
		if rep.FinishedAt != nil && rep.FinishedAt.After(generated) {
			generated = *rep.FinishedAt
		}
	}
	vulns, err := h.scans.Vulnerabilities(r.Context(), o)
	if err != nil {
		h.fail(w, err)
		return
	}
	list := make([]map[string]any, len(vulns))
	for i, v := range vulns {
		item := map[string]any{"id": v.CveID, "package": v.Package, "version": v.PackageVersion, "fix_version": v.FixedVersion,
			"severity": harborSeverity(string(v.Severity)), "description": v.Description, "links": v.Links, "cwe_ids": v.CweIds,
			"preferred_cvss": map[string]any{"score_v3": v.CvssScoreV3, "vector_v3": v.CvssVectorV3, "score_v2": v.CvssScoreV2, "vector_v2": v.CvssVectorV2}}
		if v.VendorAttributes != "" {
			item["vendor_attributes"] = json.RawMessage(v.VendorAttributes)
		}
		list[i] = item
	}
	writeJSON(w, http.StatusOK, map[string]any{scan.ReportMimeType: map[string]any{
		"generated_at":    generated.UTC().Format(time.RFC3339),
		"scanner":         map[string]string{"name": o.Scanner.Name, "vendor": o.Scanner.Vendor, "version": o.Scanner.Version},
		"severity":        harborSeverity(string(o.Severity)),
		"vulnerabilities": list,
	}})
}
