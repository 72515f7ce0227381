package server

import (
	"net/http"

	"github.com/berth-registry/berth/auth"
)

// Harbor's user endpoints (/api/v2.0/users), over the user service.

func (h *rest) userRoutes() {
	h.mux.HandleFunc("GET /api/v2.0/users/current", h.currentUser)
}

// currentUser answers who the caller is, as Harbor does; only a user has an answer.
func (h *rest) currentUser(w http.ResponseWriter, r *http.Request) {
	v, err := h.users.Current(r.Context())
	if err == nil && v.User == nil {
		err = auth.ErrUnauthenticated
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	u := v.User
	writeJSON(w, http.StatusOK, map[string]any{
		"user_id": u.ID, "username": u.Username, "email": u.Email,
		"realname": u.FullName, "sysadmin_flag": u.Admin, "creation_time": u.CreatedAt,
	})
}
