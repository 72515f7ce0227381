package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// Span names carry routes, never the names, digests and ids in a path, nor a made-up method.
func TestRouteNameHidesIdentifiers(t *testing.T) {
	t.Parallel()
	for target, want := range map[string]string{
		"GET /v2/":                                      "GET /v2/",
		"PUT /v2/library/app/manifests/v1":              "PUT /v2/{name}/manifests/{reference}",
		"HEAD /v2/a/b/c/blobs/sha256:abc":               "HEAD /v2/{name}/blobs/{digest}",
		"POST /v2/library/app/blobs/uploads/":           "POST /v2/{name}/blobs/uploads/",
		"PATCH /v2/library/app/blobs/uploads/5f1c-uuid": "PATCH /v2/{name}/blobs/uploads/{session}",
		"GET /v2/x/manifests/manifests/latest":          "GET /v2/{name}/manifests/{reference}",
		"GET /v2/library/app/tags/list":                 "GET /v2/{name}/tags/list",
		"GET /v2/library/app/referrers/sha256:abc":      "GET /v2/{name}/referrers/{digest}",
		"GET /v2/_catalog":                              "GET /v2/_catalog",
		"POST /graphql":                                 "POST /graphql",
		"GET /service/token":                            "GET /service/token",
		"GET /api/v2.0/projects/library/repositories":   "GET /api/v2.0/projects",
		"GET /api/v2.0/zz-random-123":                   "GET /api/v2.0/{other}",
		"GET /projects/42/artifacts":                    "GET /{dashboard}",
		"BREW /graphql":                                 "OTHER /graphql",
		"GET /healthz":                                  "",
		"GET /metrics":                                  "",
	} {
		method, path, _ := strings.Cut(target, " ")
		if got := routeName(httptest.NewRequest(method, path, nil)); got != want {
			t.Errorf("%s: %q, want %q", target, got, want)
		}
	}
}
