package engineapi

import (
	"errors"
	"fmt"
	"net/http"
)

// What berth does not have answers in Docker's shapes, so that clients
// that touch it on their way to images carry on:
//
//   - inspecting a container, network, volume or plugin is 404 with the
//     daemon's "No such …" message: `docker inspect NAME` tries each kind
//     and moves on to the image on a 404;
//   - the container, network and volume prunes report that nothing was
//     deleted: `docker system prune` calls them before the image and
//     build-cache prunes;
//   - listing containers, networks and volumes gives empty lists (compose
//     and IDEs poll them);
//   - every other container, exec, network, volume, plugin or swarm
//     endpoint is 501 and says that berth manages images only.

// errImagesOnly is the 501 answer.
var errImagesOnly = withStatus(http.StatusNotImplemented,
	errors.New("berth manages images only: containers, exec, networks, volumes, plugins and swarm are not part of it"))

func noSuch(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, name string) error {
		return notFound(daemonMessage(fmt.Sprintf("No such %s: %s", kind, name)))
	}
}

func emptyJSON(body string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ string) error {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte(body + "\n"))
		return err
	}
}

func imagesOnly(w http.ResponseWriter, r *http.Request, _ string) error { return errImagesOnly }

// absentRoutes lists the routes for the objects berth does not have, in
// the order they must be matched (specific before the catch-alls).
func absentRoutes() []route {
	get, post := http.MethodGet, http.MethodPost
	routes := []route{
		{get, "/containers/json", emptyJSON("[]")},
		{get, "/networks", emptyJSON("[]")},
		{get, "/networks/", emptyJSON("[]")},
		{get, "/volumes", emptyJSON(`{"Volumes":[],"Warnings":[]}`)},
		{get, "/plugins", emptyJSON("[]")},
		{post, "/containers/prune", emptyJSON(`{"ContainersDeleted":null,"SpaceReclaimed":0}`)},
		{post, "/networks/prune", emptyJSON(`{"NetworksDeleted":null}`)},
		{post, "/volumes/prune", emptyJSON(`{"VolumesDeleted":null,"SpaceReclaimed":0}`)},
		{get, "/containers/{name}/json", noSuch("container")},
		{get, "/plugins/{name}/json", noSuch("plugin")},
		{get, "/volumes/{name}", noSuch("volume")},
		{get, "/networks/{name}", noSuch("network")},
		{get, "/exec/{name}/json", noSuch("exec instance")},
	}
	// Everything else under these prefixes, with any method.
	for _, prefix := range []string{"/containers", "/exec", "/networks", "/volumes", "/plugins",
		"/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs", "/commit", "/session", "/grpc"} {
		for _, m := range []string{get, post, http.MethodPut, http.MethodDelete, http.MethodHead} {
			routes = append(routes, route{m, prefix, imagesOnly}, route{m, prefix + "/{name}", imagesOnly})
		}
	}
	return routes
}
