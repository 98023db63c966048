package engineapi

import "net/http"

// table lists the routes in the order they are matched. As in the
// daemon's router, an image name may hold slashes, so the fixed routes
// (/images/json) come before the ones with a {name}.
func (s *Server) table() []route {
	get, post, del := http.MethodGet, http.MethodPost, http.MethodDelete
	routes := []route{
		{get, "/_ping", s.ping},
		{get, "/version", s.version},
		{get, "/info", s.info},
	}
	routes = append(routes, s.imageRoutes()...)
	_ = del
	_ = post
	return append(routes, absentRoutes()...)
}

// imageRoutes are the image, registry, archive and build endpoints; each
// calls the library function the matching berth command calls.
func (s *Server) imageRoutes() []route {
	return nil
}
