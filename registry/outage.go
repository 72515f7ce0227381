package registry

import (
	"io"
	"net/http"

	"github.com/distribution/distribution/v3/registry/api/errcode"

	"github.com/berth-registry/berth/auth"
)

// errUnavailable is auth.ErrUnavailable in Distribution's error shape: an error the index
// middleware returns lets Distribution answer 503 UNAVAILABLE instead of 500 with the cause's text.
var errUnavailable = errcode.ErrorCodeUnavailable.WithMessage(auth.ErrUnavailable.Error())

// indexError is what the index middleware hands back to Distribution for err: the generic
// unavailability error when the database could not be reached (the cause is logged here), else err.
func (ix *Indexer) indexError(err error) error {
	if !auth.IsUnavailable(err) {
		return err
	}
	ix.log.Warn("registry: index write failed: database unavailable", "err", err)
	return errUnavailable
}

// outageError is errUnavailable when err says the database could not be reached, else err: what
// the blob guard hands back to Distribution, which would otherwise answer 500 with err's text.
func outageError(err error) error {
	if auth.IsUnavailable(err) {
		return errUnavailable
	}
	return err
}

// failed answers a request that the registry could not decide: 503 with Retry-After when the
// database could not be reached, 500 otherwise; the cause goes to the log, never to the client.
func (r *Registry) failed(w http.ResponseWriter, what string, err error) {
	if auth.IsUnavailable(err) {
		r.log.Warn("registry: "+what+": database unavailable", "err", err)
		serveUnavailable(w)
		return
	}
	r.log.Error("registry: "+what, "err", err)
	serveError(w, errcode.ErrorCodeUnknown, http.StatusInternalServerError)
}

// serveUnavailable answers 503 in Distribution's error shape, with the Retry-After every
// unavailability answer carries.
func serveUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", auth.RetryAfter)
	serveError(w, errUnavailable, http.StatusServiceUnavailable)
}

// retryAfterWriter adds Retry-After to a 503 that Distribution writes (errUnavailable from the
// index middleware or the blob guard).
type retryAfterWriter struct{ http.ResponseWriter }

func (w retryAfterWriter) WriteHeader(code int) {
	if code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", auth.RetryAfter)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (Distribution flushes blob bodies).
func (w retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes on (Distribution's writer looks for http.Flusher).
func (w retryAfterWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// ReadFrom keeps blob bodies on the underlying writer's fast path (sendfile).
func (w retryAfterWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(w.ResponseWriter, r)
}
