package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/scanner"
	"github.com/berth-registry/berth/fault"
)

// ScannerInput is a pluggable scanner to register or ping (GraphQL's ScannerInput).
type ScannerInput struct {
	Name        string
	Description *string
	// URL is the adapter's base URL; /api/v1 is appended.
	URL  string
	Auth *scanner.Auth
	// AccessCredential is user:password for BASIC, the token for BEARER, the key for API_KEY.
	AccessCredential *string
	SkipCertVerify   *bool
}

// ScannerMetadata is what an adapter says of itself: who makes it, what it reads and writes.
type ScannerMetadata struct {
	Name, Vendor, Version string
	// Consumes are the media types of the artifacts it scans; Produces the report types.
	Consumes, Produces []string
}

func (s *Service) allow(ctx context.Context, action auth.Action) error {
	return s.access.Auth.Check(ctx, auth.PrincipalFrom(ctx), auth.System, action, "")
}

// Scanners lists the registered scanners, the default first (scanner:read).
func (s *Service) Scanners(ctx context.Context) ([]*ent.Scanner, error) {
	if err := s.allow(ctx, auth.ActionReadScanners); err != nil {
		return nil, err
	}
	return s.db.Scanner.Query().Order(ent.Desc(scanner.FieldIsDefault), ent.Asc(scanner.FieldID)).All(ctx)
}

// AdvisoryCount is how many advisories the built-in scanner knows (scanner:read).
func (s *Service) AdvisoryCount(ctx context.Context) (int, error) {
	if err := s.allow(ctx, auth.ActionReadScanners); err != nil {
		return 0, err
	}
	var n int
	return n, s.pool.QueryRow(ctx, "SELECT count(*) FROM advisories").Scan(&n)
}

// metadata checks in and asks the adapter it names for its metadata.
func (s *Service) metadata(ctx context.Context, in ScannerInput) (*ent.Scanner, *Metadata, error) {
	if err := s.allow(ctx, auth.ActionManageScanners); err != nil {
		return nil, nil, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 255 {
		return nil, nil, fault.BadInput("a scanner needs a name of 1 to 255 characters")
	}
	if !strings.HasPrefix(in.URL, "http://") && !strings.HasPrefix(in.URL, "https://") {
		return nil, nil, fault.BadInput("the scanner's URL must start with http:// or https://")
	}
	if err := s.access.Egress.Check(ctx, nil, in.URL); err != nil {
		return nil, nil, fault.BadInput("scanner URL %s", err.Error())
	}
	sc := &ent.Scanner{Name: name, URL: strings.TrimRight(in.URL, "/"), Auth: "NONE"}
	if in.Auth != nil {
		sc.Auth = *in.Auth
	}
	if in.AccessCredential != nil {
		sc.AccessCredential = *in.AccessCredential
	}
	if in.SkipCertVerify != nil {
		sc.SkipCertVerify = *in.SkipCertVerify
	}
	m, err := s.access.Adapter.Metadata(ctx, sc)
	if err != nil {
		return nil, nil, fault.BadInput("%s", err.Error())
	}
	return sc, m, nil
}

// AddScanner registers an adapter once it answers (scanner:create).
func (s *Service) AddScanner(ctx context.Context, in ScannerInput) (*ent.Scanner, error) {
	sc, m, err := s.metadata(ctx, in)
	if err != nil {
		return nil, err
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	created, err := s.db.Scanner.Create().SetName(sc.Name).SetDescription(desc).SetURL(sc.URL).SetAuth(sc.Auth).
		SetAccessCredential(sc.AccessCredential).SetSkipCertVerify(sc.SkipCertVerify).
		SetVendor(m.Scanner.Vendor).SetVersion(m.Scanner.Version).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, fault.Conflict("a scanner named %q exists already", sc.Name)
	}
	return created, err
}

// PingScanner asks an adapter for its metadata without registering it (scanner:create).
func (s *Service) PingScanner(ctx context.Context, in ScannerInput) (*ScannerMetadata, error) {
	_, m, err := s.metadata(ctx, in)
	if err != nil {
		return nil, err
	}
	out := &ScannerMetadata{Name: m.Scanner.Name, Vendor: m.Scanner.Vendor, Version: m.Scanner.Version, Consumes: []string{}, Produces: []string{}}
	for _, c := range m.Capabilities {
		out.Consumes = append(out.Consumes, c.ConsumesMimeTypes...)
		out.Produces = append(out.Produces, c.ProducesMimeTypes...)
	}
	return out, nil
}

// scanner loads scanner id for a caller who may manage scanners.
func (s *Service) scanner(ctx context.Context, id int) (*ent.Scanner, error) {
	if err := s.allow(ctx, auth.ActionManageScanners); err != nil {
		return nil, err
	}
	sc, err := s.db.Scanner.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("scanner %d", id))
	}
	return sc, err
}

// SetDefaultScanner makes an enabled scanner the default (scanner:create).
func (s *Service) SetDefaultScanner(ctx context.Context, id int) (*ent.Scanner, error) {
	if err := s.allow(ctx, auth.ActionManageScanners); err != nil {
		return nil, err
	}
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	sc, err := tx.Scanner.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, fault.NotFound(fmt.Sprintf("scanner %d", id))
	}
	if err != nil {
		return nil, err
	}
	if !sc.Enabled {
		return nil, fault.BadInput("scanner %q is disabled: enable it first", sc.Name)
	}
	if err := tx.Scanner.Update().Where(scanner.IDNEQ(id)).SetIsDefault(false).Exec(ctx); err != nil {
		return nil, err
	}
	if err := tx.Scanner.UpdateOneID(id).SetIsDefault(true).Exec(ctx); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return s.db.Scanner.Get(ctx, id)
}

// SetScannerEnabled enables or disables a scanner; the default stays enabled (scanner:create).
func (s *Service) SetScannerEnabled(ctx context.Context, id int, enabled bool) (*ent.Scanner, error) {
	sc, err := s.scanner(ctx, id)
	if err != nil {
		return nil, err
	}
	if !enabled && sc.IsDefault {
		return nil, fault.BadInput("scanner %q is the default: make another the default first", sc.Name)
	}
	return sc.Update().SetEnabled(enabled).Save(ctx)
}

// RemoveScanner removes an adapter; projects that chose it fall back to the default (scanner:create).
func (s *Service) RemoveScanner(ctx context.Context, id int) error {
	sc, err := s.scanner(ctx, id)
	if err != nil {
		return err
	}
	if sc.Builtin {
		return fault.BadInput("the built-in scanner cannot be removed: disable it instead")
	}
	if sc.IsDefault {
		return fault.BadInput("scanner %q is the default: make another the default first", sc.Name)
	}
	if err := s.db.Project.Update().Where(project.ScannerID(id)).ClearScannerID().Exec(ctx); err != nil {
		return err
	}
	return s.db.Scanner.DeleteOneID(id).Exec(ctx)
}

// SetSystemAllowlist replaces the system CVE allowlist (system-cve-allowlist:update): each id
// must name a vulnerability; duplicates are dropped.
func (s *Service) SetSystemAllowlist(ctx context.Context, ids []string) ([]string, error) {
	if err := s.allow(ctx, auth.ActionManageAllowlist); err != nil {
		return nil, err
	}
	list := []string{}
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if !advisory.IsVulnID(id) {
			return nil, fault.BadInput("%q is not a vulnerability id such as CVE-2024-1234", id)
		}
		if !slices.Contains(list, id) {
			list = append(list, id)
		}
	}
	b, _ := json.Marshal(list)
	_, err := s.pool.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, SystemAllowlistKey, string(b))
	if err != nil {
		return nil, fmt.Errorf("save the system CVE allowlist: %w", err)
	}
	return list, nil
}
