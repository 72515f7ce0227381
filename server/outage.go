package server

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"

	"github.com/berth-registry/berth/auth"
)

// The answers every door outside /v2 gives when the database cannot be reached (auth.ErrUnavailable):
// 503 with Retry-After and the generic message, in the door's own error shape. The registry
// answers /v2 in Distribution's shape (registry.serveUnavailable).

// unavailableREST answers in Harbor's error shape, for /api/v2.0 and /service/token.
func unavailableREST(w http.ResponseWriter) {
	w.Header().Set("Retry-After", auth.RetryAfter)
	writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", auth.ErrUnavailable.Error())
}

// unavailableGraphQL answers as a GraphQL error with extensions.code UNAVAILABLE, for /graphql
// when the request's credentials could not be checked.
func unavailableGraphQL(w http.ResponseWriter) {
	w.Header().Set("Retry-After", auth.RetryAfter)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": auth.ErrUnavailable.Error(), "extensions": map[string]string{"code": "UNAVAILABLE"}}},
		"data":   nil,
	})
}

// outageWriter turns a GraphQL response into 503 with Retry-After when a resolver's error was
// presented as UNAVAILABLE (graph marks it through MarkUnavailable before the response is written).
type outageWriter struct {
	http.ResponseWriter
	unavailable bool
	wrote       bool
}

// MarkUnavailable asks for the response to be a 503.
func (w *outageWriter) MarkUnavailable() { w.unavailable = true }

func (w *outageWriter) WriteHeader(code int) {
	if !w.wrote && w.unavailable && code == http.StatusOK {
		w.Header().Set("Retry-After", auth.RetryAfter)
		code = http.StatusServiceUnavailable
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *outageWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush and Hijack keep subscriptions (streaming and WebSocket) working through the wrapper.
func (w *outageWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *outageWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *outageWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
