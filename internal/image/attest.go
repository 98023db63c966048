package image

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BuildKit's attestation layout (docs/attestations/attestation-storage.md):
// an image index holds the image manifest and, per platform, an
// "attestation manifest" with the platform unknown/unknown whose layers are
// in-toto statements about the image manifest. The annotations below are
// how registries, `docker buildx imagetools inspect` and scanners find them.
const (
	AnnotationReferenceType   = "vnd.docker.reference.type"
	AnnotationReferenceDigest = "vnd.docker.reference.digest"
	AnnotationPredicateType   = "in-toto.io/predicate-type"
	ReferenceTypeAttestation  = "attestation-manifest"
	MediaTypeInToto           = types.MediaType("application/vnd.in-toto+json")
	InTotoStatementType       = "https://in-toto.io/Statement/v0.1"
	PredicateSPDX             = "https://spdx.dev/Document"
	PredicateSLSAProvenance02 = "https://slsa.dev/provenance/v0.2"
)

// Predicate is one attestation's content before it is wrapped in an
// in-toto statement: its type URI and its JSON document.
type Predicate struct {
	Type string
	JSON json.RawMessage
}

// inTotoStatement is the envelope BuildKit writes as each layer.
type inTotoStatement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []inTotoSubject `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

type inTotoSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Attestation is an attestation manifest and every blob it needs.
type Attestation struct {
	Manifest Blob
	Config   Blob
	Layers   []Blob
	// Descriptor is the manifest's entry in the index: unknown/unknown,
	// annotated with the digest of the image it describes.
	Descriptor v1.Descriptor
}

// Blobs returns every blob of the attestation, manifest last (the order
// a store or registry wants them in).
func (a Attestation) Blobs() []Blob {
	out := append([]Blob{a.Config}, a.Layers...)
	return append(out, a.Manifest)
}

// SubjectName is BuildKit's purl-style name of an image in a statement's
// subject: pkg:docker/NAME@TAG?platform=OS%2FARCH ("_" names no tag).
func SubjectName(familiarRepo, tag string, p v1.Platform) string {
	return fmt.Sprintf("pkg:docker/%s@%s?platform=%s", familiarRepo, tag, url.QueryEscape(p.String()))
}

// NewAttestation wraps predicates as in-toto statements about subject (an
// image manifest), one layer each, in an attestation manifest.
func NewAttestation(subject v1.Descriptor, names []string, predicates []Predicate) (Attestation, error) {
	var a Attestation
	if len(names) == 0 {
		names = []string{"_"}
	}
	subj := make([]inTotoSubject, 0, len(names))
	for _, n := range names {
		subj = append(subj, inTotoSubject{Name: n, Digest: map[string]string{subject.Digest.Algorithm: subject.Digest.Hex}})
	}
	var layers []v1.Descriptor
	var diffIDs []v1.Hash
	for _, p := range predicates {
		b, err := json.Marshal(inTotoStatement{Type: InTotoStatementType, PredicateType: p.Type, Subject: subj, Predicate: p.JSON})
		if err != nil {
			return a, fmt.Errorf("encoding the %s statement: %w", p.Type, err)
		}
		l, err := newBlob(b, MediaTypeInToto)
		if err != nil {
			return a, err
		}
		l.Descriptor.Annotations = map[string]string{AnnotationPredicateType: p.Type}
		a.Layers = append(a.Layers, l)
		layers = append(layers, l.Descriptor)
		diffIDs = append(diffIDs, l.Descriptor.Digest)
	}
	// BuildKit's config for an attestation manifest: no runnable platform,
	// the statements as uncompressed layers.
	cfg := &v1.ConfigFile{Architecture: "unknown", OS: "unknown", RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}}
	var err error
	if a.Config, err = MarshalConfig(cfg); err != nil {
		return a, err
	}
	if a.Manifest, err = MarshalManifest(a.Config.Descriptor, layers, nil); err != nil {
		return a, err
	}
	a.Descriptor = a.Manifest.Descriptor
	a.Descriptor.Platform = &v1.Platform{Architecture: "unknown", OS: "unknown"}
	a.Descriptor.Annotations = map[string]string{
		AnnotationReferenceDigest: subject.Digest.String(),
		AnnotationReferenceType:   ReferenceTypeAttestation,
	}
	return a, nil
}

// AttestationInfo describes one attestation manifest of an index, for
// listings such as `imagetools inspect`.
type AttestationInfo struct {
	Descriptor     v1.Descriptor
	Subject        string   // digest of the image manifest it is about
	PredicateTypes []string // of its layers, in order
}

// Attestations lists the attestation manifests of an index; manifest reads
// each one's raw bytes.
func Attestations(idx *v1.IndexManifest, manifest func(v1.Hash) ([]byte, error)) ([]AttestationInfo, error) {
	var out []AttestationInfo
	for _, d := range idx.Manifests {
		if !IsAttestation(d) {
			continue
		}
		raw, err := manifest(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading attestation manifest %s: %w", d.Digest, err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("attestation manifest %s: %w", d.Digest, err)
		}
		info := AttestationInfo{Descriptor: d, Subject: d.Annotations[AnnotationReferenceDigest]}
		for _, l := range m.Layers {
			if t := l.Annotations[AnnotationPredicateType]; t != "" {
				info.PredicateTypes = append(info.PredicateTypes, t)
			}
		}
		sort.Strings(info.PredicateTypes)
		out = append(out, info)
	}
	return out, nil
}
