package registry

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"library/busybox", true}, {"a.b_c__d---e/f", true}, {"a0/b1/c2", true},
		{"", false}, {"A", false}, {"a/", false}, {"/a", false}, {"a//b", false}, {"a/../b", false},
		{"..", false}, {"a_", false}, {"a___b", false}, {"-a", false}, {"a.-b", false}, {"a%2fb", false},
		{strings.Repeat("a", 256), false}, {strings.Repeat("a", 255), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := validName(tc.name); got != tc.ok {
				t.Fatalf("validName(%q) = %v", tc.name, got)
			}
		})
	}
}

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path, method string
		want         route
	}{
		{"/v2/", "GET", route{kind: routePing}},
		{"/v2/_catalog", "GET", route{kind: routeCatalog}},
		{"/v2/a/b/tags/list", "GET", route{kind: routeTags, name: "a/b"}},
		{"/v2/a/blobs/sha256:x", "GET", route{kind: routeBlob, name: "a", ref: "sha256:x"}},
		{"/v2/a/blobs/uploads/", "POST", route{kind: routeUploads, name: "a"}},
		{"/v2/a/blobs/uploads", "POST", route{kind: routeUploads, name: "a"}},
		{"/v2/a/blobs/uploads/id", "PATCH", route{kind: routeUpload, name: "a", ref: "id"}},
		{"/v2/blobs/blobs/uploads/id", "PATCH", route{kind: routeUpload, name: "blobs", ref: "id"}},
		{"/v2/x/manifests/manifests/latest", "GET", route{kind: routeManifest, name: "x/manifests", ref: "latest"}},
		{"/v2/a/referrers/sha256:x", "GET", route{kind: routeReferrers, name: "a", ref: "sha256:x"}},
		{"/v2/a/unknown/x", "GET", route{}},
		{"/v3/", "GET", route{}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := parseRoute(tc.path, tc.method); got != tc.want {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzRouteNames: whatever the path, a name that passes validName never
// contains anything that could escape the storage layout.
func FuzzRouteNames(f *testing.F) {
	for _, s := range []string{"/v2/a/b/blobs/sha256:00", "/v2/../x/manifests/t", "/v2/a/blobs/uploads/", "/v2/a%2F..%2Fb/tags/list"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt := parseRoute(p, "GET")
		if rt.name == "" || !validName(rt.name) {
			return
		}
		if strings.Contains(rt.name, "..") || strings.HasPrefix(rt.name, "/") || strings.Contains(rt.name, "//") || strings.HasPrefix(rt.name, "_") {
			t.Fatalf("name %q accepted", rt.name)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("a", 64))
	f.Add("sha512:" + strings.Repeat("0", 128))
	f.Add("sha256:../../etc")
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseDigest(s)
		if !ok {
			return
		}
		if d.String() != s || strings.ContainsAny(d.hex, "/.") {
			t.Fatalf("%q parsed as %v", s, d)
		}
		_ = blobKey(d)
	})
}

func FuzzCheckManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:`+strings.Repeat("a", 64)+`","size":2},"layers":[]}`), "")
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:zz"}]}`), mtOCIIndex)
	f.Add([]byte(`[]`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		m, err := checkManifest(body, ct)
		if err != nil {
			if _, ok := err.(*apiError); !ok {
				t.Fatalf("non-API error %v", err)
			}
			return
		}
		for _, b := range m.blobs {
			if _, ok := parseDigest(b.String()); !ok {
				t.Fatalf("unchecked digest %v", b)
			}
		}
	})
}
