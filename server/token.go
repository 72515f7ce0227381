package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/project"
)

// serveToken is the Docker token service (GET /service/token): it checks the caller's credentials
// (Basic, a Berth token as Bearer, or none for anonymous pulls), grants the requested scopes as far
// as the permission table allows, and returns a signed token. Without a scope the token is an
// identity token: `docker login` asks for one to check credentials, and scripts may use it as a
// Bearer token on GraphQL and REST.
//
// A Berth token presented as Bearer never buys more than it was issued for: a registry token is
// exchanged only for a subset of its own scope and never for an identity token, a scanner's token
// not at all, and no new token outlives the one presented.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, claims, err := s.auth.Authenticate(ctx, r)
	if errors.Is(err, auth.ErrUnavailable) {
		// Not a failed login: the credentials could not be checked. No audit entry, no challenge.
		s.log.Warn("token service: database unavailable", "err", err)
		unavailableREST(w)
		return
	}
	if user, secret, basic := r.BasicAuth(); basic && (err != nil || len(r.URL.Query()["scope"]) == 0) {
		// `docker login` asks for a token without a scope: that, and every failure, is a login.
		// Failed password logins are audited by auth, as on every door; robot secrets and API
		// tokens here.
		password := !auth.IsRobotName(user) && !strings.HasPrefix(secret, auth.APITokenPrefix)
		if err == nil || !password {
			if auditErr := s.audit.Record(ctx, audit.Entry{User: user, Operation: audit.OpLogin, ResourceType: "session",
				Resource: user, Failed: err != nil}); auditErr != nil {
				s.log.Error("audit: record login", "err", auditErr)
			}
		}
	}
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(auth.RetryAfterSeconds(throttled.RetryAfter)))
		writeError(w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", err.Error())
		return
	case err != nil:
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error())
		return
	}
	if svc := r.URL.Query().Get("service"); svc != "" && svc != s.auth.Tokens().Service() {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "unknown service "+svc+": use "+s.auth.Tokens().Service())
		return
	}
	scopes := r.URL.Query()["scope"]
	var notAfter time.Time
	if claims != nil {
		switch {
		case p.Kind == auth.KindScanner:
			writeError(w, http.StatusForbidden, "DENIED", "a scanner's pull token cannot be exchanged: use it as it is")
			return
		case len(claims.Access) > 0 && len(scopes) == 0:
			writeError(w, http.StatusForbidden, "DENIED",
				"a registry token cannot be exchanged for an identity token: log in with your credentials (Basic) instead")
			return
		}
		notAfter = claims.ExpiresAt.Time
	}
	var access []auth.ResourceActions
	for _, scope := range scopes {
		for _, one := range strings.Split(scope, " ") {
			ra, err := s.grant(r, p, claims, one)
			if auth.IsUnavailable(err) {
				s.log.Warn("token service: database unavailable", "err", err)
				unavailableREST(w)
				return
			}
			var bad badScopeError
			if errors.As(err, &bad) {
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", bad.Error())
				return
			}
			if err != nil {
				s.log.Error("token service: grant", "err", err)
				writeError(w, http.StatusInternalServerError, "UNKNOWN", "could not check the requested scope")
				return
			}
			if ra != nil {
				access = append(access, *ra)
			}
		}
	}
	if claims != nil && len(claims.Access) > 0 && len(access) == 0 {
		// A token without access is an identity token, which a registry token never buys.
		writeError(w, http.StatusForbidden, "DENIED",
			"the presented token grants none of the requested scope, and a registry token cannot be exchanged for an identity token: log in with your credentials (Basic) instead")
		return
	}
	now := time.Now()
	token, expires, err := s.auth.Tokens().IssueUntil(p, access, now, notAfter)
	if err != nil {
		s.log.Error("issue token", "err", err)
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "could not issue a token")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token":        token,
		"access_token": token,
		"expires_in":   max(0, int(expires.Sub(now).Seconds())),
		"issued_at":    now.UTC().Format(time.RFC3339),
	})
}

// grant returns what of one requested scope ("repository:library/nginx:pull,push") p may have,
// or nil if nothing. Actions not granted are left out rather than refused, as the Docker token
// specification asks: the registry then answers 401 or 403 for the request that needs them.
func (s *Server) grant(r *http.Request, p *auth.Principal, claims *auth.Claims, scope string) (*auth.ResourceActions, error) {
	if scope == "" {
		return nil, nil
	}
	parts := strings.Split(scope, ":")
	if len(parts) < 3 {
		return nil, badScopeError("malformed scope " + scope + ": want type:name:actions")
	}
	typ, name, actions := parts[0], strings.Join(parts[1:len(parts)-1], ":"), strings.Split(parts[len(parts)-1], ",")
	switch typ {
	case "registry":
		if name != "catalog" {
			return nil, nil
		}
		d, err := s.auth.Decide(r.Context(), p, auth.System, auth.ActionListCatalog)
		if err != nil || !kept(d, claims) {
			return nil, err
		}
		return &auth.ResourceActions{Type: typ, Name: name, Actions: []string{"*"}}, nil
	case "repository":
	default:
		return nil, nil
	}
	proj, err := s.db.Project.Query().Where(project.Name(strings.SplitN(name, "/", 2)[0])).Only(r.Context())
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	decide, err := s.auth.Decider(r.Context(), p, auth.InRepository(proj, name))
	if err != nil {
		return nil, err
	}
	// A verb is permitted when the table allows one of its actions, and kept when the token the
	// caller presented (if any) covers it too: a registry token buys only a subset of itself.
	verb := func(v string) (permitted, isKept bool) {
		for _, a := range auth.VerbActions(v) {
			d := decide(a)
			permitted = permitted || d == auth.Allowed || d == auth.OutOfScope
			isKept = isKept || kept(d, claims)
		}
		return permitted, isKept
	}
	var granted []string
	for _, act := range actions {
		if act != "*" {
			if _, ok := verb(act); ok {
				granted = append(granted, act)
			}
			continue
		}
		// "*" asks for everything: granted when the table allows all of it.
		var all []string
		for _, v := range []string{"pull", "push", "delete"} {
			permitted, ok := verb(v)
			if !permitted {
				all = nil
				break
			}
			if ok {
				all = append(all, v)
			}
		}
		granted = append(granted, all...)
	}
	if len(granted) == 0 {
		return nil, nil
	}
	return &auth.ResourceActions{Type: typ, Name: name, Actions: granted}, nil
}

// kept reports whether a decision lets the token service grant an action: allowed, or outside
// the scope of a presented identity token, which (unlike a registry token) does not bound what
// it is exchanged for.
func kept(d auth.Decision, claims *auth.Claims) bool {
	return d == auth.Allowed || (d == auth.OutOfScope && claims != nil && len(claims.Access) == 0)
}

// badScopeError is a requested scope that cannot be read: the caller's mistake (400), unlike a
// failure to check it (500, or 503 when the database is down).
type badScopeError string

func (e badScopeError) Error() string { return string(e) }

// writeError answers in Harbor's error shape: {"errors":[{"code":…,"message":…}]}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
}
