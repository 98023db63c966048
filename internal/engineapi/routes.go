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
		{get, "/system/df", s.systemDF},
		{post, "/auth", s.auth},
		{post, "/build", s.postBuild},
		{post, "/build/prune", s.pruneBuildCache},

		{get, "/images/json", s.listImages},
		{get, "/images/search", s.searchImages},
		{get, "/images/get", s.saveImages},
		{post, "/images/load", s.loadImages},
		{post, "/images/create", s.createImage},
		{post, "/images/prune", s.pruneImages},
		{get, "/images/{name}/get", s.saveImages},
		{get, "/images/{name}/history", s.imageHistory},
		{get, "/images/{name}/json", s.inspectImage},
		{post, "/images/{name}/tag", s.tagImage},
		{post, "/images/{name}/push", s.pushImage},
		{del, "/images/{name}", s.deleteImage},
	}
	return append(routes, absentRoutes()...)
}
