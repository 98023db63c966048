package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Attest is what buildx's --attest, --sbom and --provenance ask for.
type Attest struct {
	SBOM       bool
	Provenance string // "": none; "min" or "max", as buildx's mode
}

// Annotations are buildx's --annotation values by where they go.
type Annotations struct {
	Manifest           map[string]string // the image manifest ("key=value", "manifest:")
	Index              map[string]string // the index ("index:"); asks for one
	ManifestDescriptor map[string]string // the image's entry in the index ("manifest-descriptor:")
}

func (a Annotations) wantIndex() bool { return len(a.Index) > 0 || len(a.ManifestDescriptor) > 0 }

// SBOMMaker makes the SPDX document of a built image (the CLI: berth's
// package inventory); the build package knows no package formats.
type SBOMMaker interface {
	SBOM(ctx context.Context, img v1.Image, name string) (json.RawMessage, error)
}

// ErrNoSBOMMaker is returned for --sbom by a front end that wired none.
var ErrNoSBOMMaker = errors.New("this front end makes no SBOM")

// materialSource records the FROM images a build resolves, for provenance.
type materialSource struct {
	ImageSource
	mu   sync.Mutex
	mats []Material
	imgs []v1.Image // the images themselves: --squash finds its base among them
}

func (s *materialSource) Image(ctx context.Context, r string, p v1.Platform, pull bool) (v1.Image, error) {
	img, err := s.ImageSource.Image(ctx, r, p, pull)
	if err == nil {
		if d, derr := img.Digest(); derr == nil {
			s.mu.Lock()
			s.mats = append(s.mats, Material{URI: purlName(r, p), Digest: d})
			s.imgs = append(s.imgs, img)
			s.mu.Unlock()
		}
	}
	return img, err
}

func (s *materialSource) images() []v1.Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]v1.Image(nil), s.imgs...)
}

func (s *materialSource) list() []Material {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Material(nil), s.mats...)
}

// purlName is BuildKit's name of an image in attestations:
// pkg:docker/busybox@latest?platform=linux%2Famd64.
func purlName(s string, p v1.Platform) string {
	r, err := ref.Parse(s)
	if err != nil {
		return s
	}
	id := "latest"
	switch v := r.(type) {
	case name.Tag:
		id = v.TagStr()
	case name.Digest:
		id = v.DigestStr()
	}
	return image.SubjectName(ref.FamiliarRepository(r), id, p)
}

// finishInput is what finishImage needs to know about the build.
type finishInput struct {
	req        Request
	env        Env
	dockerfile []byte
	dfName     string
	buildArgs  map[string]string
	labels     map[string]string
	started    time.Time
	epoch      *time.Time // SOURCE_DATE_EPOCH
	materials  *materialSource
}

// finishImage applies the manifest annotations to the built image and,
// when attestations or index annotations are asked for, wraps it in an OCI
// index with an attestation manifest as BuildKit stores it. res is updated
// to the annotated image; the descriptor returned is what the tags name
// (the index, or the image manifest).
func finishImage(ctx context.Context, res *Result, in finishInput) (v1.Descriptor, error) {
	req, blobs := in.req, in.env.Blobs
	if req.Squash {
		if err := squash(ctx, res, in.materials.images(), blobs, in.epoch); err != nil {
			return v1.Descriptor{}, fmt.Errorf("squashing: %w", err)
		}
	}
	if len(req.Annotations.Manifest) > 0 {
		img, ok := mutate.Annotations(res.Image, req.Annotations.Manifest).(v1.Image)
		if !ok {
			return v1.Descriptor{}, errors.New("annotating the image manifest")
		}
		raw, err := img.RawManifest()
		if err != nil {
			return v1.Descriptor{}, err
		}
		desc, err := putBytes(ctx, blobs, raw, res.Manifest.MediaType)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("storing the annotated manifest: %w", err)
		}
		res.Image, res.Manifest = img, desc
	}
	if !req.Attest.SBOM && req.Attest.Provenance == "" && !req.Annotations.wantIndex() {
		return res.Manifest, nil
	}
	cf, err := res.Image.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, err
	}
	plat := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	subject := res.Manifest
	subject.Platform = &plat
	if len(req.Annotations.ManifestDescriptor) > 0 {
		subject.Annotations = req.Annotations.ManifestDescriptor
	}
	manifests := []v1.Descriptor{subject}
	var preds []image.Predicate
	if req.Attest.SBOM {
		if in.env.SBOM == nil {
			return v1.Descriptor{}, badRequest{ErrNoSBOMMaker}
		}
		target := "."
		if len(req.Tags) > 0 {
			target = req.Tags[0]
		}
		doc, err := in.env.SBOM.SBOM(ctx, res.Image, target)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("making the SBOM: %w", err)
		}
		preds = append(preds, image.Predicate{Type: image.PredicateSPDX, JSON: doc})
	}
	if req.Attest.Provenance != "" {
		p, err := Provenance(ProvenanceInput{
			Mode: req.Attest.Provenance, DockerfileName: in.dfName, Dockerfile: in.dockerfile, Target: req.Target,
			BuildArgs: in.buildArgs, Labels: in.labels, Platform: plat, Materials: in.materials.list(),
			Started: in.started, Finished: time.Now(),
		})
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("making the provenance: %w", err)
		}
		preds = append(preds, image.Predicate{Type: image.PredicateSLSAProvenance02, JSON: p})
	}
	if len(preds) > 0 {
		var names []string
		for _, t := range req.Tags {
			names = append(names, purlName(t, plat))
		}
		att, err := image.NewAttestation(res.Manifest, names, preds)
		if err != nil {
			return v1.Descriptor{}, err
		}
		for _, b := range att.Blobs() {
			if _, err := putBytes(ctx, blobs, b.Bytes, b.Descriptor.MediaType); err != nil {
				return v1.Descriptor{}, fmt.Errorf("storing the attestation: %w", err)
			}
		}
		manifests = append(manifests, att.Descriptor)
	}
	var anns map[string]string
	if len(req.Annotations.Index) > 0 {
		anns = req.Annotations.Index
	}
	idx, err := image.MarshalIndex(manifests, anns)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return putBytes(ctx, blobs, idx.Bytes, idx.Descriptor.MediaType)
}

// putBytes stores b, checked against its digest, and returns its
// descriptor.
func putBytes(ctx context.Context, blobs BlobStore, b []byte, mt types.MediaType) (v1.Descriptor, error) {
	h, n, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return v1.Descriptor{}, err
	}
	if _, _, err := blobs.PutBlob(ctx, h, bytes.NewReader(b)); err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: n, Digest: h}, nil
}
