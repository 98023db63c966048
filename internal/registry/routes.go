package registry

import "strings"

type routeKind int

const (
	routeNone routeKind = iota
	routePing
	routeCatalog
	routeTags
	routeBlob
	routeUploads // POST /v2/<name>/blobs/uploads/
	routeUpload  // /v2/<name>/blobs/uploads/<id>
	routeManifest
	routeReferrers
)

func (k routeKind) String() string {
	return [...]string{"none", "ping", "catalog", "tags", "blob", "uploads", "upload", "manifest", "referrers"}[k]
}

type route struct {
	kind routeKind
	name string
	ref  string // digest, tag or upload id
}

// parseRoute splits a /v2/ path. Repository names contain slashes, so the
// route is recognised from the end: the last segment is the reference (which
// never contains a slash) and the one or two before it say what it is.
func parseRoute(p, method string) route {
	rest, ok := strings.CutPrefix(p, "/v2")
	if !ok {
		return route{}
	}
	if rest == "" || rest == "/" {
		return route{kind: routePing}
	}
	rest = rest[1:]
	if rest == "_catalog" {
		return route{kind: routeCatalog}
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	name := func(k int) string { return strings.Join(segs[:n-k], "/") }
	if n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads" {
		if segs[n-1] == "" {
			return route{kind: routeUploads, name: name(3)}
		}
		return route{kind: routeUpload, name: name(3), ref: segs[n-1]}
	}
	if n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list" {
		return route{kind: routeTags, name: name(2)}
	}
	if n >= 3 && segs[n-2] == "blobs" && segs[n-1] == "uploads" && method == "POST" {
		return route{kind: routeUploads, name: name(2)}
	}
	if n >= 3 {
		switch segs[n-2] {
		case "blobs":
			return route{kind: routeBlob, name: name(2), ref: segs[n-1]}
		case "manifests":
			return route{kind: routeManifest, name: name(2), ref: segs[n-1]}
		case "referrers":
			return route{kind: routeReferrers, name: name(2), ref: segs[n-1]}
		}
	}
	return route{}
}
