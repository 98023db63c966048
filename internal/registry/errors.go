package registry

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// apiError is an error with its distribution-spec code and HTTP status. The
// handlers return them; writeError is the one place they become responses.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
	status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newErr(status int, code, msg string) *apiError {
	return &apiError{Code: code, Message: msg, status: status}
}

// The spec's error codes (distribution-spec "Error Codes").
func errBlobUnknown() *apiError {
	return newErr(http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry")
}
func errBlobUploadUnknown() *apiError {
	return newErr(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
}
func errBlobUploadInvalid(msg string) *apiError {
	return newErr(http.StatusBadRequest, "BLOB_UPLOAD_INVALID", msg)
}
func errDigestInvalid(msg string) *apiError {
	return newErr(http.StatusBadRequest, "DIGEST_INVALID", msg)
}
func errManifestBlobUnknown(d string) *apiError {
	e := newErr(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "manifest references a blob unknown to registry: "+d)
	e.Detail = map[string]string{"digest": d}
	return e
}
func errManifestInvalid(msg string) *apiError {
	return newErr(http.StatusBadRequest, "MANIFEST_INVALID", msg)
}
func errManifestUnknown() *apiError {
	return newErr(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown to registry")
}
func errNameInvalid() *apiError {
	return newErr(http.StatusBadRequest, "NAME_INVALID", "invalid repository name")
}
func errNameUnknown() *apiError {
	return newErr(http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
}
func errTagInvalid() *apiError {
	return newErr(http.StatusBadRequest, "TAG_INVALID", "invalid tag")
}
func errUnauthorized() *apiError {
	return newErr(http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
}
func errUnsupported(msg string) *apiError {
	return newErr(http.StatusMethodNotAllowed, "UNSUPPORTED", msg)
}
func errTooManyRequests(msg string) *apiError {
	return newErr(http.StatusTooManyRequests, "TOOMANYREQUESTS", msg)
}
func errRangeInvalid(msg string) *apiError {
	return newErr(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", msg)
}
func errTooLarge(code, msg string) *apiError {
	return newErr(http.StatusRequestEntityTooLarge, code, msg)
}

// writeError sends err as the spec's JSON error body. Errors that are not
// apiErrors are internal: they are logged with the request id and answered
// with a generic message, never echoed.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) && (errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)) && r.Context().Err() == nil {
		// The store is down or slow: tell the client to come back, and
		// keep nothing half-done (every write is whole or absent).
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "storage unavailable",
			slog.String("id", requestID(r)), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.String("err", err.Error()))
		w.Header().Set("Retry-After", "5")
		ae = newErr(http.StatusServiceUnavailable, "UNAVAILABLE", "storage is unavailable; retry later")
	}
	if ae == nil && !errors.As(err, &ae) {
		s.log.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("id", requestID(r)), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.String("err", err.Error()))
		ae = newErr(http.StatusInternalServerError, "UNKNOWN", "internal server error")
	}
	body, _ := json.Marshal(struct {
		Errors []*apiError `json:"errors"`
	}{[]*apiError{ae}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", itoa(int64(len(body))))
	w.WriteHeader(ae.status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
