package auth

import (
	"strings"

	"github.com/berth-registry/berth/ent"
)

// scannerPrincipal is the principal of a scanner's pull token: one repository, one artifact.
// A token of the scanner kind that does not name exactly that is refused.
func scannerPrincipal(c *Claims) (*Principal, error) {
	if len(c.Access) != 1 || c.Access[0].Type != "repository" || c.Digest == "" ||
		len(c.Access[0].Actions) != 1 || c.Access[0].Actions[0] != "pull" {
		return nil, ErrInvalidToken
	}
	return &Principal{Kind: KindScanner, Name: ScannerSubject, ScanRepository: c.Access[0].Name, ScanDigest: c.Digest}, nil
}

// scannerActions is what the scanner may do in proj: pull (and see) the project of its one
// repository, nothing anywhere else. Which artifact and blobs of the repository it may read is
// the registry's check, which knows what a request asks for.
func scannerActions(p *Principal, proj *ent.Project) map[Action]bool {
	projName, _, _ := strings.Cut(p.ScanRepository, "/")
	if projName != proj.Name {
		return map[Action]bool{}
	}
	return map[Action]bool{ActionPull: true, ActionReadProject: true}
}
