package server

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/berth-registry/berth/ent"
	entscanner "github.com/berth-registry/berth/ent/scanner"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/scan"
)

// Harbor's scanner registrations (/scanners), over the scan service. A registration's uuid is
// Berth's scanner id. Changing a registration (PUT) is not served: remove and add it again.

func (h *rest) scannerRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/scanners", h.listScanners)
	h.mux.HandleFunc("POST /api/v2.0/scanners", h.addScanner)
	h.mux.HandleFunc("POST /api/v2.0/scanners/ping", h.pingScanner)
	h.mux.HandleFunc("GET /api/v2.0/scanners/{id}", h.getScanner)
	h.mux.HandleFunc("PATCH /api/v2.0/scanners/{id}", h.setDefaultScanner)
	h.mux.HandleFunc("DELETE /api/v2.0/scanners/{id}", h.removeScanner)
}

// harborScannerAuth maps Harbor's auth names to Berth's.
var harborScannerAuth = map[string]entscanner.Auth{
	"": entscanner.AuthNone, "Basic": entscanner.AuthBasic, "Bearer": entscanner.AuthBearer,
	"X-ScannerAdapter-API-Key": entscanner.AuthAPIKey,
}

func toHarborScanner(s *ent.Scanner) map[string]any {
	auth := ""
	for name, a := range harborScannerAuth {
		if a == s.Auth {
			auth = name
		}
	}
	return map[string]any{"uuid": strconv.Itoa(s.ID), "name": s.Name, "description": s.Description, "url": s.URL,
		"disabled": !s.Enabled, "is_default": s.IsDefault, "auth": auth, "access_credential": "",
		"skip_certVerify": s.SkipCertVerify, "use_internal_addr": false, "create_time": s.CreatedAt,
		"update_time": s.UpdatedAt, "adapter": s.Name, "vendor": s.Vendor, "version": s.Version}
}

// harborScannerReq is Harbor's ScannerRegistrationReq (and ScannerRegistrationSettings).
type harborScannerReq struct {
	Name             string  `json:"name"`
	Description      *string `json:"description"`
	URL              string  `json:"url"`
	Auth             string  `json:"auth"`
	AccessCredential *string `json:"access_credential"`
	SkipCertVerify   *bool   `json:"skip_certVerify"`
	UseInternalAddr  bool    `json:"use_internal_addr"`
	Disabled         bool    `json:"disabled"`
}

func (b harborScannerReq) input() (scan.ScannerInput, error) {
	auth, ok := harborScannerAuth[b.Auth]
	if !ok {
		return scan.ScannerInput{}, fault.BadInput("auth %.40q is not one of Basic, Bearer, X-ScannerAdapter-API-Key (or empty)", b.Auth)
	}
	if b.UseInternalAddr {
		return scan.ScannerInput{}, fault.BadInput("use_internal_addr is not supported: scanners reach Berth at its configured address")
	}
	return scan.ScannerInput{Name: b.Name, Description: b.Description, URL: b.URL, Auth: &auth,
		AccessCredential: b.AccessCredential, SkipCertVerify: b.SkipCertVerify}, nil
}

func (h *rest) listScanners(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	if _, ok := h.listQuery(w, r); !ok {
		return
	}
	scanners, err := h.scans.Scanners(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	total := len(scanners)
	scanners = scanners[min(pg.Offset, total):min(pg.Offset+pg.Limit, total)]
	out := make([]map[string]any, len(scanners))
	for i, s := range scanners {
		out[i] = toHarborScanner(s)
	}
	writeList(w, r, total, out)
}

// scannerByID is the scanner {id} names, for a caller who may read scanners.
func (h *rest) scannerByID(r *http.Request) (*ent.Scanner, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	scanners, err := h.scans.Scanners(r.Context())
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(scanners, func(s *ent.Scanner) bool { return s.ID == id })
	if i < 0 {
		return nil, fault.NotFound(fmt.Sprintf("scanner %d", id))
	}
	return scanners[i], nil
}

func (h *rest) getScanner(w http.ResponseWriter, r *http.Request) {
	s, err := h.scannerByID(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborScanner(s))
}

func (h *rest) addScanner(w http.ResponseWriter, r *http.Request) {
	var body harborScannerReq
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	in, err := body.input()
	var s *ent.Scanner
	if err == nil {
		s, err = h.scans.AddScanner(r.Context(), in)
	}
	if err == nil && body.Disabled {
		_, err = h.scans.SetScannerEnabled(r.Context(), s.ID, false)
	}
	h.created(w, err, func() string { return fmt.Sprintf("/api/v2.0/scanners/%d", s.ID) })
}

func (h *rest) pingScanner(w http.ResponseWriter, r *http.Request) {
	var body harborScannerReq
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	in, err := body.input()
	if err == nil {
		_, err = h.scans.PingScanner(r.Context(), in)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// setDefaultScanner is Harbor's PATCH {"is_default": true}.
func (h *rest) setDefaultScanner(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IsDefault bool `json:"is_default"`
	}
	if err := readBody(w, r, &body); err != nil {
		h.fail(w, err)
		return
	}
	id, err := pathID(r, "id")
	if err == nil && !body.IsDefault {
		err = fault.BadInput("is_default can only be set to true: make another scanner the default instead")
	}
	if err == nil {
		_, err = h.scans.SetDefaultScanner(r.Context(), id)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// removeScanner deletes a registration and answers it, as Harbor does.
func (h *rest) removeScanner(w http.ResponseWriter, r *http.Request) {
	s, err := h.scannerByID(r)
	if err == nil {
		err = h.scans.RemoveScanner(r.Context(), s.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toHarborScanner(s))
}
