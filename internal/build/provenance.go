package build

import (
	"encoding/json"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Material is an input the build fetched: a FROM image, by the purl-style
// name BuildKit writes (pkg:docker/busybox@latest?platform=linux%2Famd64)
// and its manifest digest.
type Material struct {
	URI    string
	Digest v1.Hash
}

// ProvenanceInput is what a provenance attestation says about one build.
type ProvenanceInput struct {
	Mode           string // "min" or "max", as buildx's --provenance mode
	DockerfileName string // the entry point, "Dockerfile"
	Dockerfile     []byte // its text; recorded only in max mode
	Target         string
	BuildArgs      map[string]string
	Labels         map[string]string
	Platform       v1.Platform
	Materials      []Material
	Started        time.Time
	Finished       time.Time
}

// BuildType is BuildKit's buildType URI; berth's provenance follows its
// SLSA v0.2 layout so tools that read BuildKit's (docker buildx
// imagetools, scanners, policy engines) read berth's.
const BuildType = "https://mobyproject.org/buildkit@v1"

type slsaProvenance struct {
	Builder    slsaBuilder    `json:"builder"`
	BuildType  string         `json:"buildType"`
	Materials  []slsaMaterial `json:"materials"`
	Invocation slsaInvocation `json:"invocation"`
	Metadata   slsaMetadata   `json:"metadata"`
}

type slsaBuilder struct {
	ID string `json:"id"`
}

type slsaMaterial struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

type slsaInvocation struct {
	ConfigSource slsaConfigSource `json:"configSource"`
	Parameters   slsaParameters   `json:"parameters"`
	Environment  map[string]any   `json:"environment"`
}

type slsaConfigSource struct {
	EntryPoint string `json:"entryPoint"`
}

type slsaParameters struct {
	Frontend string              `json:"frontend"`
	Args     map[string]string   `json:"args,omitempty"`
	Locals   []map[string]string `json:"locals"`
}

type slsaMetadata struct {
	BuildStartedOn  string         `json:"buildStartedOn"`
	BuildFinishedOn string         `json:"buildFinishedOn"`
	Completeness    map[string]any `json:"completeness"`
	Reproducible    bool           `json:"reproducible"`
	BuildKit        map[string]any `json:"https://mobyproject.org/buildkit@v1#metadata"`
}

// Provenance returns the SLSA v0.2 provenance predicate of a build, in
// BuildKit's shape: the frontend's parameters as "build-arg:NAME" and
// "label:NAME" args, the FROM images as materials, and (mode max) the
// Dockerfile's source.
func Provenance(in ProvenanceInput) (json.RawMessage, error) {
	args := map[string]string{}
	for k, v := range in.BuildArgs {
		args["build-arg:"+k] = v
	}
	for k, v := range in.Labels {
		args["label:"+k] = v
	}
	if in.Target != "" {
		args["target"] = in.Target
	}
	p := slsaProvenance{
		BuildType: BuildType,
		Materials: []slsaMaterial{},
		Invocation: slsaInvocation{
			ConfigSource: slsaConfigSource{EntryPoint: in.DockerfileName},
			Parameters: slsaParameters{Frontend: "dockerfile.v0", Args: args,
				Locals: []map[string]string{{"name": "context"}, {"name": "dockerfile"}}},
			Environment: map[string]any{"platform": in.Platform.String()},
		},
		Metadata: slsaMetadata{
			BuildStartedOn:  in.Started.UTC().Format(time.RFC3339Nano),
			BuildFinishedOn: in.Finished.UTC().Format(time.RFC3339Nano),
			Completeness:    map[string]any{"parameters": in.Mode == "max", "environment": true, "materials": false},
			BuildKit:        map[string]any{},
		},
	}
	mats := append([]Material(nil), in.Materials...)
	sort.Slice(mats, func(i, j int) bool { return mats[i].URI < mats[j].URI })
	seen := map[string]bool{}
	for _, m := range mats {
		if seen[m.URI+m.Digest.String()] {
			continue
		}
		seen[m.URI+m.Digest.String()] = true
		p.Materials = append(p.Materials, slsaMaterial{URI: m.URI, Digest: map[string]string{m.Digest.Algorithm: m.Digest.Hex}})
	}
	if in.Mode == "max" {
		p.Metadata.BuildKit["source"] = map[string]any{
			"infos": []map[string]any{{"filename": in.DockerfileName, "language": "Dockerfile", "data": in.Dockerfile}},
		}
	}
	return json.Marshal(p)
}
