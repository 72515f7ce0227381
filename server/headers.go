package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/graph"
)

// The Content-Security-Policy of the dashboard: everything from Berth's own origin, nothing
// inline (the Vite build has no inline script or style; React sets styles through the CSSOM,
// which CSP allows), images also from data: URLs (the favicon), no plugins, no framing.
const (
	dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	// apiCSP is for answers that are data, not pages: nothing may load, run or frame them.
	apiCSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
	// graphiqlCSP lets the GraphiQL page run its inline start-up script and load its own files
	// from the CDN it names (with subresource integrity).
	graphiqlCSP = "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; " +
		"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://cdn.jsdelivr.net; " +
		"font-src 'self' data: https://cdn.jsdelivr.net; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

// securityHeaders sets, on every answer, what tells a browser to treat Berth's pages and data
// strictly: a Content-Security-Policy (the dashboard's, or a deny-all one for API answers), no
// framing (X-Frame-Options for older browsers, frame-ancestors for the rest), no MIME sniffing,
// no Referer leaving the origin, and, where Berth is reached over TLS, HSTS.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	httpsExternal := strings.HasPrefix(s.cfg.ExternalURL, "https://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch api := apiOf(r.URL.Path); {
		case r.URL.Path == "/graphiql":
			h.Set("Content-Security-Policy", graphiqlCSP)
		case api == "other":
			h.Set("Content-Security-Policy", dashboardCSP)
		default:
			h.Set("Content-Security-Policy", apiCSP)
		}
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		if r.TLS != nil || httpsExternal {
			// Browsers ignore it on plain HTTP, so it only ever pins what is already HTTPS.
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// RequestIDHeader carries the id of every request in its answer; an internal error's message
// and the server's log line name the same id.
const RequestIDHeader = "X-Request-Id"

// withRequestID gives every request an id, in its context and in the answer's headers.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(graph.WithRequestID(r.Context(), id)))
	})
}

// limitBody refuses a request body larger than limit with 413, before anything parses it: a
// declared length is refused at once, an undeclared (chunked) one as soon as the limit is passed,
// so no more than limit bytes are ever held. The accepted body is handed on in memory.
func limitBody(limit int64, setting string, next http.Handler) http.Handler {
	tooLarge := func(w http.ResponseWriter) {
		// The rest of the body is not read: the connection closes after this answer.
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE",
			fmt.Sprintf("the request body is larger than %d bytes; an administrator can raise the limit with %s", limit, setting))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			tooLarge(w)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var maxErr *http.MaxBytesError
		switch {
		case errors.As(err, &maxErr):
			tooLarge(w)
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "the request body could not be read")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
