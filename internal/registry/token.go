package registry

import (
	"context"
	"net/http"
	"strings"
)

// TokenVerifier checks a bearer token from the token server and returns
// its subject and what it grants (action on resource typ/name, as in the
// token's "access" claim); internal/auth implements it.
type TokenVerifier interface {
	Authorize(raw string) (subject string, allowed func(typ, name, action string) bool, err error)
}

// grants is a verified token's check, carried in the request context for
// the checks made below routing (cross-repository mounts).
type grants func(typ, name, action string) bool

const keyGrants ctxKey = keyRequestID + 1

func grantsFrom(ctx context.Context) (grants, bool) {
	g, ok := ctx.Value(keyGrants).(grants)
	return g, ok
}

func (g grants) allow(typ, name, action string) bool { return g(typ, name, action) }

// scope is one resource and the actions a request needs on it.
type scope struct {
	typ, name string
	actions   []string
}

func (s scope) String() string {
	return s.typ + ":" + s.name + ":" + strings.Join(s.actions, ",")
}

// requiredScope is what registry:2 asks a token to grant for rt: pull to
// read, pull and push to write, delete to delete, registry:catalog:* for
// the catalog, nothing but a valid token for the /v2/ ping.
func requiredScope(r *http.Request, rt route) *scope {
	switch rt.kind {
	case routePing, routeNone:
		return nil
	case routeCatalog:
		return &scope{"registry", "catalog", []string{"*"}}
	}
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return &scope{"repository", rt.name, []string{"pull"}}
	case r.Method == http.MethodDelete && (rt.kind == routeManifest || rt.kind == routeBlob):
		return &scope{"repository", rt.name, []string{"delete"}}
	}
	return &scope{"repository", rt.name, []string{"pull", "push"}}
}

// authorizeToken checks the request's bearer token against what rt needs.
// On refusal it sets the Bearer challenge that sends the client to the
// token server for the right scope (with error="insufficient_scope" when
// the token was good but did not grant enough).
func (s *Server) authorizeToken(w http.ResponseWriter, r *http.Request, rt route) (*http.Request, string, bool) {
	need := requiredScope(r, rt)
	challenge := func(insufficient bool) {
		c := `Bearer realm="` + quoteless(s.opts.TokenRealm) + `",service="` + quoteless(s.opts.TokenService) + `"`
		if need != nil {
			c += `,scope="` + quoteless(need.String()) + `"`
		}
		if insufficient {
			c += `,error="insufficient_scope"`
		}
		w.Header().Set("WWW-Authenticate", c)
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		challenge(false)
		return r, "", false
	}
	subject, allowed, err := s.opts.Token.Authorize(strings.TrimSpace(raw))
	if err != nil {
		s.log.Info("token refused", "id", requestID(r), "err", err)
		challenge(false)
		return r, "", false
	}
	g := grants(allowed)
	if need != nil {
		for _, a := range need.actions {
			if !g.allow(need.typ, need.name, a) {
				challenge(true)
				return r, subject, false
			}
		}
	}
	return r.WithContext(context.WithValue(r.Context(), keyGrants, g)), subject, true
}

func quoteless(s string) string { return strings.ReplaceAll(s, `"`, ``) }
