package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestManifestMediaTypes(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer-bytes")
	tr.pushBlob("m", cfg)
	tr.pushBlob("m", layer)
	oci := imageManifest(t, mtOCIManifest, cfg, layer)
	docker := imageManifest(t, mtDockerManifest, cfg, layer)
	index := func(mt string) []byte {
		return mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": mt, "manifests": []map[string]any{
			{"mediaType": mtOCIManifest, "digest": sha256Of(oci), "size": len(oci), "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
			{"mediaType": mtOCIManifest, "digest": sha256Of([]byte("absent child")), "size": 12}, // sparse is allowed
		}})
	}
	tests := []struct {
		name, mt string
		body     []byte
	}{
		{"oci manifest", mtOCIManifest, oci},
		{"docker schema2", mtDockerManifest, docker},
		{"oci index", mtOCIIndex, index(mtOCIIndex)},
		{"docker manifest list", mtDockerList, index(mtDockerList)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tag := strings.ReplaceAll(tc.name, " ", "-")
			d := sha256Of(tc.body)
			r := tr.do("PUT", "/v2/m/manifests/"+tag, tc.body, "Content-Type: "+tc.mt)
			if r.code != 201 || r.h.Get("Docker-Content-Digest") != d || r.h.Get("Location") != "/v2/m/manifests/"+d {
				t.Fatalf("put: %d %v %s", r.code, r.h, r.body)
			}
			for _, ref := range []string{tag, d} {
				g := tr.do("GET", "/v2/m/manifests/"+ref, nil, "Accept: "+tc.mt)
				if g.code != 200 || !bytes.Equal(g.body, tc.body) || g.h.Get("Content-Type") != tc.mt || g.h.Get("Docker-Content-Digest") != d {
					t.Fatalf("get %s: %d %v", ref, g.code, g.h)
				}
				h := tr.do("HEAD", "/v2/m/manifests/"+ref, nil)
				if h.code != 200 || len(h.body) != 0 || h.h.Get("Content-Length") != fmt.Sprint(len(tc.body)) {
					t.Fatalf("head %s: %d %v", ref, h.code, h.h)
				}
			}
		})
	}
}

func TestManifestRefused(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	cfg, layer := []byte(`{}`), []byte("layer")
	tr.pushBlob("m", cfg)
	good := imageManifest(t, mtOCIManifest, cfg)
	big := append([]byte(`{"schemaVersion":2,"mediaType":"`+mtOCIIndex+`","manifests":[],"annotations":{"x":"`), bytes.Repeat([]byte("a"), 4<<20)...)
	big = append(big, `"}}`...)
	tests := []struct {
		name, ref, ct string
		body          []byte
		code          int
		errCode       string
	}{
		{"missing layer", "t", mtOCIManifest, imageManifest(t, mtOCIManifest, cfg, layer), 400, "MANIFEST_BLOB_UNKNOWN"},
		{"missing config", "t", mtOCIManifest, imageManifest(t, mtOCIManifest, []byte("nocfg")), 400, "MANIFEST_BLOB_UNKNOWN"},
		{"no config at all", "t", mtOCIManifest, []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIManifest + `","layers":[]}`), 400, "MANIFEST_INVALID"},
		{"not json", "t", mtOCIManifest, []byte("{"), 400, "MANIFEST_INVALID"},
		{"content type mismatch", "t", mtDockerManifest, good, 400, "MANIFEST_INVALID"},
		{"digest mismatch", sha256Of([]byte("other")), mtOCIManifest, good, 400, "DIGEST_INVALID"},
		{"invalid tag", "-bad", mtOCIManifest, good, 400, "TAG_INVALID"},
		{"bad descriptor digest", "t", mtOCIIndex, []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIIndex + `","manifests":[{"digest":"sha256:zz","size":1}]}`), 400, "MANIFEST_INVALID"},
		{"schema1", "t", mtDockerSigned, []byte(`{"schemaVersion":1}`), 400, "MANIFEST_INVALID"},
		{"over 4 MiB", "t", mtOCIIndex, big, 413, "MANIFEST_INVALID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tr.do("PUT", "/v2/m/manifests/"+tc.ref, tc.body, "Content-Type: "+tc.ct)
			if r.code != tc.code || r.errCode() != tc.errCode {
				t.Fatalf("%d %s, want %d %s", r.code, r.body, tc.code, tc.errCode)
			}
		})
	}
	if r := tr.do("GET", "/v2/m/tags/list", nil); r.code != 404 {
		t.Fatalf("refused manifests left a repository: %d %s", r.code, r.body)
	}
}

func TestManifestSHA512AndTagParam(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	cfg := []byte(`{"os":"linux"}`)
	tr.pushBlob("r", cfg)
	m := imageManifest(t, mtOCIManifest, cfg)
	d := sha512Of(m)
	r := tr.do("PUT", "/v2/r/manifests/"+d+"?tag=a&tag=b", m, "Content-Type: "+mtOCIManifest)
	if r.code != 201 || r.h.Get("Docker-Content-Digest") != d || r.h.Get("OCI-Tag") != "a, b" {
		t.Fatalf("%d %v %s", r.code, r.h, r.body)
	}
	for _, ref := range []string{"a", "b", d} {
		if g := tr.do("GET", "/v2/r/manifests/"+ref, nil); g.code != 200 || g.h.Get("Docker-Content-Digest") != d {
			t.Errorf("%s: %d %v", ref, g.code, g.h)
		}
	}
}

func TestDeleteManifestAndTag(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	_, d := tr.pushImage("r", "one", []byte(`{"a":1}`), []byte("l1"))
	tr.do("PUT", "/v2/r/manifests/two", imageManifest(t, mtOCIManifest, []byte(`{"a":1}`), []byte("l1")), "Content-Type: "+mtOCIManifest)
	if r := tr.do("DELETE", "/v2/r/manifests/one", nil); r.code != 202 {
		t.Fatalf("tag delete: %d %s", r.code, r.body)
	}
	if r := tr.do("GET", "/v2/r/manifests/one", nil); r.code != 404 || r.errCode() != "MANIFEST_UNKNOWN" {
		t.Fatalf("deleted tag: %d", r.code)
	}
	if r := tr.do("GET", "/v2/r/manifests/two", nil); r.code != 200 {
		t.Fatalf("other tag lost: %d", r.code)
	}
	if r := tr.do("DELETE", "/v2/r/manifests/"+d, nil); r.code != 202 {
		t.Fatalf("digest delete: %d", r.code)
	}
	for _, ref := range []string{"two", d} {
		if r := tr.do("GET", "/v2/r/manifests/"+ref, nil); r.code != 404 {
			t.Errorf("%s after delete: %d", ref, r.code)
		}
	}
	if r := tr.do("DELETE", "/v2/r/manifests/"+d, nil); r.code != 404 {
		t.Errorf("second delete: %d", r.code)
	}
}

func TestReferrers(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	_, subject := tr.pushImage("r", "base", []byte(`{"base":true}`))
	empty := []byte("{}")
	tr.pushBlob("r", empty)
	artifact := func(at string, n int) []byte {
		return mustJSON(t, map[string]any{
			"schemaVersion": 2, "mediaType": mtOCIManifest, "artifactType": at,
			"config":      map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256Of(empty), "size": 2},
			"layers":      []any{},
			"subject":     map[string]any{"mediaType": mtOCIManifest, "digest": subject, "size": 1},
			"annotations": map[string]string{"n": fmt.Sprint(n)},
		})
	}
	sig, sbom := artifact("application/x.signature", 1), artifact("application/x.sbom", 2)
	for _, a := range [][]byte{sig, sbom} {
		r := tr.do("PUT", "/v2/r/manifests/"+sha256Of(a), a, "Content-Type: "+mtOCIManifest)
		if r.code != 201 || r.h.Get("OCI-Subject") != subject {
			t.Fatalf("put artifact: %d %v", r.code, r.h)
		}
	}
	// An artifact whose subject is absent is accepted.
	orphan := mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config":  map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256Of(empty), "size": 2},
		"layers":  []any{},
		"subject": map[string]any{"mediaType": mtOCIManifest, "digest": sha256Of([]byte("gone")), "size": 1}})
	if r := tr.do("PUT", "/v2/r/manifests/"+sha256Of(orphan), orphan, "Content-Type: "+mtOCIManifest); r.code != 201 {
		t.Fatalf("orphan: %d %s", r.code, r.body)
	}
	tests := []struct {
		name, query, filtered string
		want                  []string
	}{
		{"all", "", "", []string{sha256Of(sig), sha256Of(sbom)}},
		{"filtered", "?artifactType=application/x.sbom", "artifactType", []string{sha256Of(sbom)}},
		{"filter matches nothing", "?artifactType=application/x.none", "artifactType", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tr.do("GET", "/v2/r/referrers/"+subject+tc.query, nil)
			if r.code != 200 || r.h.Get("Content-Type") != mtOCIIndex || r.h.Get("OCI-Filters-Applied") != tc.filtered {
				t.Fatalf("%d %v", r.code, r.h)
			}
			var idx struct {
				MediaType string
				Manifests []descriptor
			}
			json.Unmarshal(r.body, &idx)
			got := map[string]bool{}
			for _, m := range idx.Manifests {
				got[m.Digest] = true
				if m.ArtifactType == "" || m.Annotations["n"] == "" {
					t.Errorf("descriptor lacks artifactType/annotations: %+v", m)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("missing %s", w)
				}
			}
		})
	}
	if r := tr.do("GET", "/v2/r/referrers/sha256:bad", nil); r.code != 400 {
		t.Errorf("bad digest: %d", r.code)
	}
}

func TestTagsAndCatalogPaging(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	cfg := []byte(`{}`)
	tags := []string{"a", "b", "c", "d", "e"}
	for _, repo := range []string{"x/one", "x/two", "y"} {
		tr.pushBlob(repo, cfg)
		for _, tag := range tags {
			m := imageManifest(t, mtOCIManifest, cfg)
			if r := tr.do("PUT", "/v2/"+repo+"/manifests/"+tag, m, "Content-Type: "+mtOCIManifest); r.code != 201 {
				t.Fatal(r.code)
			}
		}
	}
	tests := []struct {
		name, path, link string
		want             string
	}{
		{"all tags", "/v2/x/one/tags/list", "", `{"name":"x/one","tags":["a","b","c","d","e"]}`},
		{"first page", "/v2/x/one/tags/list?n=2", `</v2/x/one/tags/list?last=b&n=2>; rel="next"`, `{"name":"x/one","tags":["a","b"]}`},
		{"middle page", "/v2/x/one/tags/list?n=2&last=b", `</v2/x/one/tags/list?last=d&n=2>; rel="next"`, `{"name":"x/one","tags":["c","d"]}`},
		{"last page", "/v2/x/one/tags/list?n=2&last=d", "", `{"name":"x/one","tags":["e"]}`},
		{"n=0", "/v2/x/one/tags/list?n=0", "", `{"name":"x/one","tags":[]}`},
		{"catalog", "/v2/_catalog", "", `{"repositories":["x/one","x/two","y"]}`},
		{"catalog page", "/v2/_catalog?n=1&last=x/one", `</v2/_catalog?last=x%2Ftwo&n=1>; rel="next"`, `{"repositories":["x/two"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tr.do("GET", tc.path, nil)
			if r.code != 200 || string(r.body) != tc.want || r.h.Get("Link") != tc.link {
				t.Fatalf("%d %s link %q", r.code, r.body, r.h.Get("Link"))
			}
		})
	}
	if r := tr.do("GET", "/v2/nothing/tags/list", nil); r.code != 404 || r.errCode() != "NAME_UNKNOWN" {
		t.Errorf("unknown repo: %d %s", r.code, r.body)
	}
	if r := tr.do("GET", "/v2/y/tags/list?n=-1", nil); r.code != 400 {
		t.Errorf("negative n: %d", r.code)
	}
}

func TestReadOnlyAndDeleteDisabled(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		method string
		path   string
	}{
		{"read-only refuses uploads", Options{ReadOnly: true}, "POST", "/v2/r/blobs/uploads/"},
		{"read-only refuses manifests", Options{ReadOnly: true}, "PUT", "/v2/r/manifests/t"},
		{"delete disabled", Options{DisableDelete: true}, "DELETE", "/v2/r/manifests/t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestRegistry(t, tc.opts)
			r := tr.do(tc.method, tc.path, []byte("{}"))
			if r.code != http.StatusMethodNotAllowed || r.errCode() != "UNSUPPORTED" {
				t.Fatalf("%d %s", r.code, r.body)
			}
		})
	}
}
