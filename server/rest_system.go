package server

import (
	"context"
	"net/http"
	"runtime/debug"
	"time"
)

// Harbor's system endpoints: ping, health and systeminfo.

// harborVersion is the Harbor release whose REST API Berth answers; systeminfo reports it as
// harbor_version (clients compare it to decide what to call) with Berth's own version beside it.
const harborVersion = "v2.6.0"

func (h *rest) systemRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Pong"))
	})
	h.mux.HandleFunc("GET /api/v2.0/health", h.getHealth)
	h.mux.HandleFunc("GET /api/v2.0/systeminfo", h.systemInfo)
}

// componentHealth is Harbor's ComponentHealthStatus.
type componentHealth struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// componentHealth checks what Berth depends on, each within a second: the API itself (core),
// PostgreSQL (which also carries the job queue) and Redis when it is configured.
func (s *Server) componentHealth(ctx context.Context) []componentHealth {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	check := func(name string, err error) componentHealth {
		if err != nil {
			return componentHealth{Name: name, Status: "unhealthy", Error: err.Error()}
		}
		return componentHealth{Name: name, Status: "healthy"}
	}
	db := s.pool.Ping(ctx)
	out := []componentHealth{check("core", nil), check("database", db), check("jobservice", db)}
	if s.redis != nil {
		out = append(out, check("redis", s.redis.Ping(ctx).Err()))
	}
	return out
}

func (h *rest) getHealth(w http.ResponseWriter, r *http.Request) {
	components := h.health(r.Context())
	status := "healthy"
	for _, c := range components {
		if c.Status != "healthy" {
			status = "unhealthy"
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "components": components})
}

// berthVersion is the module version this binary was built from ("dev" for a local build).
func berthVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// systemInfo answers Harbor's GeneralInfo, which anyone may read.
func (h *rest) systemInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"auth_mode": "db_auth", "harbor_version": harborVersion + "-berth-" + berthVersion(), "berth_version": berthVersion(),
		"with_notary": false, "with_chartmuseum": false, "self_registration": false, "has_ca_root": false,
		"read_only": false, "notification_enable": true,
	})
}
