package engineapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
	"github.com/moby/moby/api/types/common"
)

// statusError carries the HTTP status an error is answered with.
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// daemonMessage is an error worded as the daemon words it, capital letter
// included ("No such container: x"): clients and scripts match the text.
type daemonMessage string

func (m daemonMessage) Error() string { return string(m) }

func withStatus(code int, err error) error {
	if err == nil {
		return nil
	}
	return &statusError{code: code, err: err}
}

func badRequest(err error) error { return withStatus(http.StatusBadRequest, err) }
func notFound(err error) error   { return withStatus(http.StatusNotFound, err) }

// statusOf maps an error to the status the daemon gives the same failure:
// 404 for what does not exist, 409 for a conflict (an image in several
// repositories without force), 401 for a registry that refused the
// credentials, 400 for bad parameters, 500 otherwise. This is the one place
// that maps berth's errors to HTTP.
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.code
	}
	var re *remote.Error
	if errors.As(err, &re) {
		switch re.Cause {
		case remote.CauseAuth:
			return http.StatusUnauthorized
		case remote.CauseNotFound:
			return http.StatusNotFound
		}
		return http.StatusInternalServerError
	}
	switch {
	case errors.Is(err, ref.ErrInvalid), strings.HasPrefix(err.Error(), "invalid reference format"):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrAmbiguous):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, context.Canceled):
		return 499 // the client went away; nobody reads this
	}
	return http.StatusInternalServerError
}

// writeJSON answers v with status code, as the daemon does (one JSON
// document and a newline).
func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeError answers err as {"message": …} with its status.
func writeError(w http.ResponseWriter, err error) {
	_ = writeJSON(w, statusOf(err), &common.ErrorResponse{Message: err.Error()})
}
