package registry

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"
)

// CheckUploadRange refuses, with 400, a blob upload chunk (PATCH or PUT on
// /v2/<name>/blobs/uploads/<id>) whose Content-Range is not "<start>-<end>" with
// 0 <= start <= end, before Distribution sees it: Distribution answers a range it cannot parse
// with 500, as if the server had failed. A well-formed range that does not fit the upload is
// still Distribution's to refuse (416).
func CheckUploadRange(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if (req.Method == http.MethodPatch || req.Method == http.MethodPut) && strings.Contains(req.URL.Path, "/blobs/uploads/") {
			if cr := req.Header.Get("Content-Range"); cr != "" {
				if _, _, err := ParseUploadRange(cr); err != nil {
					serveError(w, errcode.ErrorCodeRangeInvalid.WithMessage(err.Error()), http.StatusBadRequest)
					return
				}
			}
		}
		next.ServeHTTP(w, req)
	})
}

// ParseUploadRange reads an upload chunk's Content-Range, "<start>-<end>" (inclusive, as the
// distribution spec writes it; a "bytes " prefix is not part of it).
func ParseUploadRange(cr string) (start, end int64, err error) {
	bad := fmt.Errorf("Content-Range %q: use <start>-<end>, two byte offsets with start <= end", truncateHeader(cr))
	s, e, ok := strings.Cut(cr, "-")
	if !ok || !digits(s) || !digits(e) {
		return 0, 0, bad
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || start > end {
		return 0, 0, bad
	}
	return start, end, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// truncateHeader keeps an echoed header short.
func truncateHeader(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
