package scan

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/scanner"
)

// The pluggable scanner protocol's media types (v1.1).
const (
	MetadataMimeType    = "application/vnd.scanner.adapter.metadata+json; version=1.0"
	ScanRequestMimeType = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
)

// AdapterClient speaks the pluggable scanner protocol v1.1 to a scanner's adapter.
type AdapterClient struct {
	// RegistryURL is where the adapter pulls the artifact from (Berth's external URL).
	RegistryURL string
	// PullToken returns a short-lived Bearer token that may pull the one artifact repo@digest
	// (its manifest and blobs) and nothing else, for the scan request.
	PullToken func(ctx context.Context, repo, digest string) (string, error)
	// Timeout bounds one HTTP request; zero means 30 seconds.
	Timeout time.Duration
	// ReportTimeout bounds the wait for a report; zero means 20 minutes.
	ReportTimeout time.Duration
	// Egress refuses connections to internal addresses after DNS (nil: public addresses only),
	// so an adapter URL cannot be pointed, or re-pointed through DNS, at the inside.
	Egress *egress.Policy
}

// Metadata is the adapter's description of itself.
type Metadata struct {
	Scanner struct {
		Name    string `json:"name"`
		Vendor  string `json:"vendor"`
		Version string `json:"version"`
	} `json:"scanner"`
	Capabilities []struct {
		ConsumesMimeTypes []string `json:"consumes_mime_types"`
		ProducesMimeTypes []string `json:"produces_mime_types"`
	} `json:"capabilities"`
	Properties map[string]string `json:"properties"`
}

// Produces reports whether the adapter produces the generic vulnerability report.
func (m *Metadata) Produces(mimeType string) bool {
	for _, c := range m.Capabilities {
		for _, p := range c.ProducesMimeTypes {
			if p == mimeType {
				return true
			}
		}
	}
	return false
}

func (c *AdapterClient) http(sc *ent.Scanner) *http.Client {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	// Redirects are never followed: a 302 with Refresh-After means "not ready", and the client
	// must see it; nor may an adapter bounce the request elsewhere.
	return c.Egress.Client(timeout, sc.SkipCertVerify)
}

func (c *AdapterClient) request(ctx context.Context, sc *ent.Scanner, method, path, accept, contentType string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(sc.URL, "/")+"/api/v1"+path, rd)
	if err != nil {
		return nil, fmt.Errorf("scanner %s: URL %q is not valid", sc.Name, egress.Redact(sc.URL))
	}
	req.Header.Set("Accept", accept)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	switch sc.Auth {
	case scanner.AuthBasic:
		// Stored as user:password, as Harbor's form takes it; sent encoded.
		cred := sc.AccessCredential
		if strings.Contains(cred, ":") {
			cred = base64.StdEncoding.EncodeToString([]byte(cred))
		}
		req.Header.Set("Authorization", "Basic "+cred)
	case scanner.AuthBearer:
		req.Header.Set("Authorization", "Bearer "+sc.AccessCredential)
	case scanner.AuthAPIKey:
		req.Header.Set("X-ScannerAdapter-API-Key", sc.AccessCredential)
	}
	resp, err := c.http(sc).Do(req)
	if err != nil {
		return nil, fmt.Errorf("scanner %s: %s %s: %w", sc.Name, method, path, err)
	}
	return resp, nil
}

// Metadata reads the adapter's metadata: the ping of the scanner registry.
func (c *AdapterClient) Metadata(ctx context.Context, sc *ent.Scanner) (*Metadata, error) {
	resp, err := c.request(ctx, sc, http.MethodGet, "/metadata", MetadataMimeType, "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scanner %s: metadata: %s: %s", sc.Name, resp.Status, errorBody(resp.Body))
	}
	var m Metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("scanner %s: metadata: %w", sc.Name, err)
	}
	if !m.Produces(ReportMimeType) {
		return nil, fmt.Errorf("scanner %s does not produce %q reports", sc.Name, ReportMimeType)
	}
	return &m, nil
}

// report is the generic vulnerability report (v1.1).
type report struct {
	Scanner struct {
		Name    string `json:"name"`
		Vendor  string `json:"vendor"`
		Version string `json:"version"`
	} `json:"scanner"`
	Vulnerabilities []struct {
		ID            string   `json:"id"`
		Package       string   `json:"package"`
		Version       string   `json:"version"`
		FixVersion    string   `json:"fix_version"`
		Severity      string   `json:"severity"`
		Description   string   `json:"description"`
		Links         []string `json:"links"`
		PreferredCVSS *struct {
			ScoreV3  *float64 `json:"score_v3"`
			VectorV3 string   `json:"vector_v3"`
			ScoreV2  *float64 `json:"score_v2"`
			VectorV2 string   `json:"vector_v2"`
		} `json:"preferred_cvss"`
		CWEIDs           []string        `json:"cwe_ids"`
		VendorAttributes json.RawMessage `json:"vendor_attributes"`
	} `json:"vulnerabilities"`
}

// Scan asks the adapter to scan the artifact in repo, then polls for the report as the adapter's
// Refresh-After says, and returns its findings and the scanner's name as the report gives it.
func (c *AdapterClient) Scan(ctx context.Context, sc *ent.Scanner, repo string, a *ent.Artifact) ([]Finding, string, error) {
	token, err := c.PullToken(ctx, repo, a.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("pull token for %s: %w", repo, err)
	}
	body, _ := json.Marshal(map[string]any{
		"registry": map[string]string{"url": c.RegistryURL, "authorization": "Bearer " + token},
		"artifact": map[string]string{"repository": repo, "digest": a.Digest, "mime_type": a.MediaType},
	})
	resp, err := c.request(ctx, sc, http.MethodPost, "/scan", "application/json", ScanRequestMimeType, body)
	if err != nil {
		return nil, "", err
	}
	var accepted struct {
		ID string `json:"id"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&accepted)
	status := resp.Status
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || err != nil || accepted.ID == "" {
		return nil, "", fmt.Errorf("scanner %s: scan request: %s", sc.Name, status)
	}
	limit := c.ReportTimeout
	if limit == 0 {
		limit = 20 * time.Minute
	}
	deadline := time.Now().Add(limit)
	for {
		resp, err := c.request(ctx, sc, http.MethodGet, "/scan/"+accepted.ID+"/report", ReportMimeType, "", nil)
		if err != nil {
			return nil, "", err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			var rep report
			err := json.NewDecoder(resp.Body).Decode(&rep)
			resp.Body.Close()
			if err != nil {
				return nil, "", fmt.Errorf("scanner %s: report: %w", sc.Name, err)
			}
			return rep.findings(), rep.Scanner.Name, nil
		case http.StatusFound:
			resp.Body.Close()
			wait, err := strconv.Atoi(resp.Header.Get("Refresh-After"))
			if err != nil || wait < 1 {
				wait = 5
			}
			if time.Now().Add(time.Duration(wait) * time.Second).After(deadline) {
				return nil, "", fmt.Errorf("scanner %s: no report after %s", sc.Name, limit)
			}
			select {
			case <-ctx.Done():
				return nil, "", ctx.Err()
			case <-time.After(time.Duration(wait) * time.Second):
			}
		default:
			msg := errorBody(resp.Body)
			resp.Body.Close()
			return nil, "", fmt.Errorf("scanner %s: report: %s: %s", sc.Name, resp.Status, msg)
		}
	}
}

func (r *report) findings() []Finding {
	out := make([]Finding, 0, len(r.Vulnerabilities))
	for _, v := range r.Vulnerabilities {
		f := Finding{}
		f.CVEID, f.Package, f.Version, f.FixedVersion = v.ID, v.Package, v.Version, v.FixVersion
		f.Severity = strings.ToUpper(v.Severity)
		if f.Severity == "NEGLIGIBLE" {
			f.Severity = "NONE"
		}
		f.Description, f.Links, f.CWEIDs = v.Description, v.Links, v.CWEIDs
		if v.PreferredCVSS != nil {
			f.CVSSScoreV3, f.CVSSVectorV3 = v.PreferredCVSS.ScoreV3, v.PreferredCVSS.VectorV3
			f.CVSSScoreV2, f.CVSSVectorV2 = v.PreferredCVSS.ScoreV2, v.PreferredCVSS.VectorV2
		}
		if len(v.VendorAttributes) > 0 && string(v.VendorAttributes) != "null" {
			f.VendorAttributes = string(v.VendorAttributes)
		}
		out = append(out, f)
	}
	return out
}

// errorBody is the adapter's error message: {"error": {"message": …}} or the first 512 bytes.
func errorBody(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 512))
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	return strings.TrimSpace(string(b))
}
