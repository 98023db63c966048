package testenv

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Archives in the formats Docker wrote before berth existed, built in code
// as Docker lays them out, for `load` tests in archive and cli (the cli
// tests also feed them to the Docker Engine and compare).

// DockerV1Archive returns a Docker v1 archive (Docker before 1.10: no
// manifest.json; per layer `<id>/json`, `<id>/layer.tar`, `<id>/VERSION`;
// names in `repositories`) of one image whose layers are LayerTar(seed)
// for each seed, base first, tagged repo:tag (none when repo is ""). It
// returns the archive and the top layer's id. The jsons are as Docker
// 1.9 wrote them, commands with shell metacharacters included (Docker
// re-encodes '<', '>' and '&' when it makes the image config).
func DockerV1Archive(t testing.TB, repo, tag string, seeds ...string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	parent := ""
	for i, seed := range seeds {
		sum := sha256.Sum256([]byte("v1 layer " + seed + " on " + parent))
		id := hex.EncodeToString(sum[:])
		layer := LayerTar(t, seed)
		created := fixtureTime.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		cmd := []string{"/bin/sh", "-c", fmt.Sprintf("echo %s > /%s/built && true", seed, seed)}
		j := map[string]any{
			"id": id, "created": created, "container": "3f0c1c8e2c7a", "docker_version": "1.9.1",
			"author":           "berth tests <tests@berth.invalid>",
			"container_config": map[string]any{"Hostname": "3f0c1c8e2c7a", "Cmd": cmd, "Env": []string{"PATH=/bin"}, "Image": parent},
			"config":           map[string]any{"Hostname": "3f0c1c8e2c7a", "Cmd": []string{"sh"}, "Env": []string{"PATH=/bin"}, "Image": parent},
			"architecture":     "amd64", "os": "linux", "Size": len(layer),
		}
		if parent != "" {
			j["parent"] = parent
		}
		js, err := json.Marshal(j)
		check(t, err)
		for _, e := range []struct {
			name string
			body []byte
		}{{id + "/VERSION", []byte("1.0")}, {id + "/json", js}, {id + "/layer.tar", layer}} {
			if e.name == id+"/VERSION" {
				check(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: id + "/", Mode: 0o755, ModTime: fixtureTime}))
			}
			check(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.body)), ModTime: fixtureTime}))
			_, err := tw.Write(e.body)
			check(t, err)
		}
		parent = id
	}
	repos := map[string]map[string]string{}
	if repo != "" {
		repos[repo] = map[string]string{tag: parent}
	}
	rb, err := json.Marshal(repos)
	check(t, err)
	check(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "repositories", Mode: 0o644, Size: int64(len(rb)), ModTime: fixtureTime}))
	_, err = tw.Write(rb)
	check(t, err)
	check(t, tw.Close())
	return buf.Bytes(), parent
}

// Docker25Image is one image of a Docker25Archive: tags empty for an image
// saved by ID.
type Docker25Image struct {
	Image v1.Image
	Tags  []string // familiar ("name:tag"), as Docker writes them
}

// Docker25Archive returns what `docker save` of Docker 25 to 27 (graph
// drivers) writes: an OCI layout whose index.json names only the tagged
// images ("manifests": null when none is), manifest.json listing every
// image (RepoTags null for one saved by ID), uncompressed layers under
// blobs/sha256, blobs first.
func Docker25Archive(t testing.TB, imgs ...Docker25Image) []byte {
	t.Helper()
	type item struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	var items []item
	var index []desc // nil when no image is tagged, as Docker marshals it
	blobs := map[string][]byte{}
	var order []string
	blob := func(b []byte) string {
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		if _, ok := blobs[h]; !ok {
			blobs[h] = b
			order = append(order, h)
		}
		return "blobs/sha256/" + h
	}
	for _, di := range imgs {
		cfg, err := di.Image.RawConfigFile()
		check(t, err)
		it := item{Config: blob(cfg), RepoTags: di.Tags}
		layers, err := di.Image.Layers()
		check(t, err)
		for _, l := range layers {
			rc, err := l.Uncompressed()
			check(t, err)
			b, err := io.ReadAll(rc)
			check(t, err)
			it.Layers = append(it.Layers, blob(b))
		}
		m, err := di.Image.RawManifest()
		check(t, err)
		md := blob(m)
		mt, err := di.Image.MediaType()
		check(t, err)
		items = append(items, it)
		for _, tag := range di.Tags {
			index = append(index, desc{MediaType: string(mt), Digest: "sha256:" + md[len("blobs/sha256/"):], Size: int64(len(m)),
				Annotations: map[string]string{"io.containerd.image.name": "docker.io/library/" + tag, "org.opencontainers.image.ref.name": tag[strings.LastIndex(tag, ":")+1:]}})
		}
	}
	mj, err := json.Marshal(items)
	check(t, err)
	ij, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index})
	check(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		check(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: fixtureTime}))
	}
	write := func(name string, b []byte) {
		check(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: fixtureTime}))
		_, err := tw.Write(b)
		check(t, err)
	}
	for _, h := range order {
		write("blobs/sha256/"+h, blobs[h])
	}
	write("index.json", ij)
	write("manifest.json", mj)
	write("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	check(t, tw.Close())
	return buf.Bytes()
}
