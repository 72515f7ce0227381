package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/project"
	"github.com/berth-registry/berth/server/harborq"
)

// The plumbing every Harbor REST handler shares: the router's own answers (unknown paths and
// methods) in Harbor's error shape, errors from the domain services mapped to Harbor's statuses,
// pages with X-Total-Count and Link, the q filter, and bounded, strict JSON bodies.

// maxRESTBody bounds every JSON body of /api/v2.0; Harbor's largest (a replication policy, a
// project with its allowlist) are a few kilobytes.
const maxRESTBody = 1 << 20

// ServeHTTP routes a request; a path no route knows is 404 and a method a path does not take is
// 405 with Allow, both in Harbor's error shape (generated clients cannot decode text/plain).
func (h *rest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		rec := &routerAnswer{header: http.Header{}}
		h.mux.ServeHTTP(rec, r) // the router's own answer: which methods the path takes, if any
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
				fmt.Sprintf("%s is not allowed on %s: use %s", r.Method, r.URL.Path, rec.header.Get("Allow")))
			return
		}
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no API at "+r.URL.Path)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// routerAnswer keeps the status and headers of the router's not-found or not-allowed answer.
type routerAnswer struct {
	header http.Header
	status int
}

func (a *routerAnswer) Header() http.Header         { return a.header }
func (a *routerAnswer) Write(b []byte) (int, error) { return len(b), nil }
func (a *routerAnswer) WriteHeader(status int)      { a.status = status }

// fail maps an error from a domain service to Harbor's status codes and error shape.
func (h *rest) fail(w http.ResponseWriter, err error) {
	f, isFault := fault.As(err)
	switch {
	case auth.IsUnavailable(err):
		h.log.Warn("rest: database unavailable", "err", err)
		unavailableREST(w)
	case errors.Is(err, auth.ErrUnauthenticated), errors.Is(err, auth.ErrBadCredentials):
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error())
	case errors.Is(err, auth.ErrForbidden):
		writeError(w, http.StatusForbidden, "FORBIDDEN", err.Error())
	case isFault:
		status, code := restStatus[f.Kind], string(f.Kind)
		if f.Kind == fault.KindBadInput {
			code = "BAD_REQUEST"
		}
		writeError(w, status, code, f.Message)
	default:
		id := w.Header().Get(RequestIDHeader) // set by withRequestID, for the log and the caller alike
		h.log.Error("rest: request failed", "request_id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error (request id "+id+")")
	}
}

// restStatus is the HTTP status of each kind of fault.
var restStatus = map[fault.Kind]int{
	fault.KindBadInput:  http.StatusBadRequest,
	fault.KindNotFound:  http.StatusNotFound,
	fault.KindConflict:  http.StatusConflict,
	fault.KindForbidden: http.StatusForbidden,
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// page reads Harbor's page and page_size (1-based; page_size at most 100, 10 when absent).
func page(r *http.Request) (offset, limit int, err error) {
	pageNo, size := 1, 10
	q := r.URL.Query()
	if v := q.Get("page"); v != "" {
		if pageNo, err = strconv.Atoi(v); err != nil || pageNo < 1 || pageNo > 1_000_000 {
			return 0, 0, fault.BadInput("page must be a positive integer, not %.40q", v)
		}
	}
	if v := q.Get("page_size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > project.MaxPage {
			return 0, 0, fault.BadInput("page_size must be between 1 and %d, not %.40q", project.MaxPage, v)
		}
	}
	return (pageNo - 1) * size, size, nil
}

// listPage is page as a service's page, or false after answering 400.
func (h *rest) listPage(w http.ResponseWriter, r *http.Request) (project.Page, bool) {
	offset, limit, err := page(r)
	if err == nil && r.URL.Query().Get("sort") != "" {
		err = fault.BadInput("sort is not supported on this list: it comes in its own fixed order")
	}
	if err != nil {
		h.fail(w, err)
		return project.Page{}, false
	}
	return project.Page{Offset: offset, Limit: limit}, true
}

// listQuery is the request's q, keeping only the keys allowed, or false after answering 400.
func (h *rest) listQuery(w http.ResponseWriter, r *http.Request, allowed ...string) (harborq.Query, bool) {
	q, err := harborq.Parse(r.URL.Query().Get("q"))
	if err == nil {
		err = q.Only(allowed...)
	}
	if err != nil {
		h.fail(w, err)
		return q, false
	}
	return q, true
}

// writeList answers a page of a list as Harbor does: the total in X-Total-Count and, in Link
// (RFC 5988), the previous and next pages when there are any.
func writeList[T any](w http.ResponseWriter, r *http.Request, total int, items []T) {
	if items == nil {
		items = []T{} // an empty list is [], never null
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	if link := pageLinks(r, total); link != "" {
		w.Header().Set("Link", link)
	}
	writeJSON(w, http.StatusOK, items)
}

// pageLinks is Harbor's Link header for the page r asked of total items: `<url>; rel="prev"`
// and `<url>; rel="next"`, each url the request's path and query with another page.
func pageLinks(r *http.Request, total int) string {
	offset, size, err := page(r)
	if err != nil {
		return ""
	}
	pageNo := offset/size + 1
	at := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("page_size", strconv.Itoa(size))
		return "<" + (&url.URL{Path: r.URL.Path, RawQuery: q.Encode()}).String() + ">"
	}
	var links []string
	if pageNo > 1 && offset-size < total {
		links = append(links, at(pageNo-1)+`; rel="prev"`)
	}
	if offset+size < total {
		links = append(links, at(pageNo+1)+`; rel="next"`)
	}
	return strings.Join(links, " , ")
}

// readBody decodes a JSON body into v: at most maxRESTBody bytes, no field v does not have
// (a setting Berth does not know is refused, never dropped), one value.
func readBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRESTBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fault.BadInput("the body is larger than %d bytes", maxRESTBody)
		}
		return fault.BadInput("invalid JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fault.BadInput("the body holds more than one JSON value")
	}
	return nil
}

// boolParam reads a boolean query parameter (absent: def).
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fault.BadInput("%s must be true or false, not %.40q", name, v)
	}
	return b, nil
}
