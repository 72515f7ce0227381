package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/berth-registry/berth/artifact"
	"github.com/berth-registry/berth/auditlog"
	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/label"
	"github.com/berth-registry/berth/member"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/quota"
	"github.com/berth-registry/berth/retention"
	"github.com/berth-registry/berth/robot"
	"github.com/berth-registry/berth/tagrule"
	"github.com/berth-registry/berth/user"
	"github.com/berth-registry/berth/worker/export"
	"github.com/berth-registry/berth/worker/gc"
	"github.com/berth-registry/berth/worker/purge"
	"github.com/berth-registry/berth/worker/replication"
	"github.com/berth-registry/berth/worker/scan"
	"github.com/berth-registry/berth/worker/webhook"
)

// rest serves Harbor 2.6's REST API (/api/v2.0) for the scripts, Terraform providers and
// generated clients people bring from Harbor. Every handler calls the same domain services as
// GraphQL, so permissions and validation are the same on both; the rest_*.go files only
// translate Harbor's shapes and errors (rest_harbor.go is the plumbing they share).
type rest struct {
	restServices
	log *slog.Logger
	mux *http.ServeMux
}

// restServices are the domain services the REST handlers adapt.
type restServices struct {
	projects  *project.Service
	members   *member.Service
	artifacts *artifact.Service
	labels    *label.Service
	users     *user.Service
	robots    *robot.Service
	auditLog  *auditlog.Service
	exports   *export.Service
	scans     *scan.Service
	gc        *gc.Service
	purge     *purge.Service
	webhooks  *webhook.Policies
	// endpoints and replication serve /registries and /replication (rest_replication.go).
	endpoints   *endpoint.Service
	replication *replication.Service
	// health reports the state of the components /health lists.
	health func(context.Context) []componentHealth
	// quotas and tagRules serve /quotas and /projects/{project}/immutabletagrules (rest_quota.go).
	quotas    *quota.Service
	tagRules  *tagrule.Service
	retention *retention.Service
}

// newREST registers every group of routes: a new group is one line here and a file of its own.
func newREST(log *slog.Logger, services restServices) http.Handler {
	h := &rest{restServices: services, log: log, mux: http.NewServeMux()}
	h.systemRoutes()
	h.userRoutes()
	h.projectRoutes()
	h.artifactRoutes()
	h.auditRoutes()
	h.jobRoutes()
	h.catalogRoutes()
	h.webhookRoutes()
	h.scannerRoutes()
	h.exportRoutes()
	h.robotRoutes()
	h.addScanRoutes()
	h.replicationRoutes()
	h.accessoryRoutes()
	h.policyRoutes()
	return h
}
