package server

import (
	"net/http"
	"time"

	"github.com/berth-registry/berth/ent"
)

// accessoryRoutes serves Harbor's accessories of an artifact:
// GET /api/v2.0/projects/{p}/repositories/{r}/artifacts/{ref}/accessories.
func (h *rest) accessoryRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/projects/{project}/repositories/{repo}/artifacts/{reference}/accessories", h.listAccessories)
}

// listAccessories answers Harbor 2.6's Accessory list: id, artifact_id (the accessory's own
// artifact), subject_artifact_id, size, digest, type (signature.cosign, signature.notation, …),
// icon and creation_time, in one page with X-Total-Count.
func (h *rest) listAccessories(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.listPage(w, r)
	if !ok {
		return
	}
	a, err := h.artifacts.ByReference(r.Context(), repositoryName(r), r.PathValue("reference"))
	if err != nil {
		h.fail(w, err)
		return
	}
	links, err := h.artifacts.AccessoryLinksOf(r.Context(), a)
	if err != nil {
		h.fail(w, err)
		return
	}
	total := len(links)
	links = links[min(pg.Offset, total):min(pg.Offset+pg.Limit, total)]
	out := make([]map[string]any, len(links))
	for i, l := range links {
		out[i] = toHarborAccessory(a, l)
	}
	writeList(w, r, total, out)
}

// toHarborAccessory is Harbor 2.6's Accessory: link l (with its artifact) of subject a.
func toHarborAccessory(a *ent.Artifact, l *ent.Accessory) map[string]any {
	acc := l.Edges.Artifact
	return map[string]any{"id": l.ID, "artifact_id": acc.ID, "subject_artifact_id": a.ID, "size": acc.Size,
		"digest": acc.Digest, "type": l.Type, "icon": "", "creation_time": acc.PushTime.UTC().Format(time.RFC3339)}
}
