package image

import (
	"encoding/json"
	"fmt"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestAttestationRoundTrip: an attestation made by NewAttestation is found
// again by Attestations in an index, with its subject and predicate types,
// and PickManifest never picks it.
func TestAttestationRoundTrip(t *testing.T) {
	img := v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 10, Digest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", 1)},
		Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}
	att, err := NewAttestation(img, []string{SubjectName("app", "1", *img.Platform)}, []Predicate{
		{Type: PredicateSPDX, JSON: json.RawMessage(`{"spdxVersion":"SPDX-2.3"}`)},
		{Type: PredicateSLSAProvenance02, JSON: json.RawMessage(`{"buildType":"x"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[v1.Hash][]byte{}
	for _, b := range att.Blobs() {
		blobs[b.Descriptor.Digest] = b.Bytes
	}
	idx := &v1.IndexManifest{Manifests: []v1.Descriptor{att.Descriptor, img}}
	got, err := Attestations(idx, func(h v1.Hash) ([]byte, error) { return blobs[h], nil })
	if err != nil || len(got) != 1 {
		t.Fatalf("Attestations: %v %+v", err, got)
	}
	if got[0].Subject != img.Digest.String() || len(got[0].PredicateTypes) != 2 {
		t.Errorf("attestation info %+v", got[0])
	}
	if d, err := PickManifest(idx, nil, nil); err != nil || d.Digest != img.Digest {
		t.Errorf("PickManifest = %v, %v; want the image, never the attestation", d.Digest, err)
	}
	var st inTotoStatement
	if err := json.Unmarshal(att.Layers[0].Bytes, &st); err != nil || st.Subject[0].Name != "pkg:docker/app@1?platform=linux%2Famd64" || st.Subject[0].Digest["sha256"] != img.Digest.Hex {
		t.Errorf("statement %+v (%v)", st, err)
	}
}

// FuzzAttestations feeds Attestations registry-supplied index and
// attestation manifest bytes: it must return an error or a listing, never
// panic.
func FuzzAttestations(f *testing.F) {
	f.Add([]byte(`{"manifests":[{"digest":"sha256:`+fmt.Sprintf("%064x", 2)+`","annotations":{"vnd.docker.reference.type":"attestation-manifest"}}]}`),
		[]byte(`{"layers":[{"annotations":{"in-toto.io/predicate-type":"https://spdx.dev/Document"}}]}`))
	f.Add([]byte(`{"manifests":null}`), []byte(`null`))
	f.Add([]byte(`{}`), []byte(`{"layers":[{}]}`))
	f.Fuzz(func(t *testing.T, index, manifest []byte) {
		var idx v1.IndexManifest
		if json.Unmarshal(index, &idx) != nil {
			return
		}
		infos, err := Attestations(&idx, func(v1.Hash) ([]byte, error) { return manifest, nil })
		if err == nil {
			for _, i := range infos {
				if !IsAttestation(i.Descriptor) {
					t.Fatalf("listed a manifest that is no attestation: %+v", i.Descriptor)
				}
			}
		}
	})
}
