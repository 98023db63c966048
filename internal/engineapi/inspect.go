package engineapi

import (
	"time"

	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// InspectResponse is GET /images/{name}/json as API 1.50 clients get it,
// and what `berth inspect` prints: one shape, so `docker inspect` through
// the service and `berth inspect` print the same lines.
//
// It is not moby's image.InspectResponse: that type describes API 1.52 and
// later, which dropped Parent and DockerVersion and made Comment, Author
// and several Config fields omitempty; API 1.50 sends them always, in this
// order (the Docker 28 daemon's).
type InspectResponse struct {
	// ID, as in the docker CLI's own type: a template's {{.ID}} runs on
	// the typed value and {{.Id}} on the JSON document (see
	// cli.inspectTemplate), as with docker.
	ID            string          `json:"Id"`
	RepoTags      []string        `json:"RepoTags"`
	RepoDigests   []string        `json:"RepoDigests"`
	Parent        string          `json:"Parent"`
	Comment       string          `json:"Comment"`
	Created       string          `json:"Created"`
	DockerVersion string          `json:"DockerVersion"`
	Author        string          `json:"Author"`
	Config        InspectConfig   `json:"Config"`
	Architecture  string          `json:"Architecture"`
	Variant       string          `json:"Variant,omitempty"`
	Os            string          `json:"Os"`
	OsVersion     string          `json:"OsVersion,omitempty"`
	Size          int64           `json:"Size"`
	GraphDriver   GraphDriver     `json:"GraphDriver"`
	RootFS        RootFS          `json:"RootFS"`
	Metadata      Metadata        `json:"Metadata"`
	Descriptor    *v1.Descriptor  `json:"Descriptor,omitempty"`
	Manifests     []v1.Descriptor `json:"Manifests,omitempty"`
}

// InspectConfig is the image config's runtime part in the order of moby's
// DockerOCIImageConfig (the OCI image config plus Docker's Healthcheck,
// OnBuild and Shell). Unlike that type, Cmd, Entrypoint, Env, Labels,
// OnBuild, User, Volumes and WorkingDir are always present, null when
// unset, as API 1.50 sends them: the docker CLI's templates
// ({{.Config.Cmd}}) fail on a missing key.
type InspectConfig struct {
	User         string              `json:"User"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	Volumes      map[string]struct{} `json:"Volumes"`
	WorkingDir   string              `json:"WorkingDir"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	ArgsEscaped  bool                `json:"ArgsEscaped,omitempty"`
	Healthcheck  *v1.HealthConfig    `json:"Healthcheck,omitempty"`
	OnBuild      []string            `json:"OnBuild"`
	Shell        []string            `json:"Shell,omitempty"`
}

func inspectConfig(c v1.Config) InspectConfig {
	return InspectConfig{
		User: c.User, ExposedPorts: c.ExposedPorts, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
		Volumes: c.Volumes, WorkingDir: c.WorkingDir, Labels: c.Labels, StopSignal: c.StopSignal,
		ArgsEscaped: c.ArgsEscaped, Healthcheck: c.Healthcheck, OnBuild: c.OnBuild, Shell: c.Shell,
	}
}

// GraphDriver names berth's store as the daemon names its storage driver.
type GraphDriver struct {
	Data map[string]string `json:"Data"`
	Name string            `json:"Name"`
}

// RootFS is the config's layer list.
type RootFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

// Metadata holds when the image was last named in this store.
type Metadata struct {
	LastTagTime string `json:"LastTagTime"`
}

// Inspect renders the store's description of one image in Docker's shape.
func Inspect(d *store.Details) *InspectResponse {
	cfg := d.Config
	ii := &InspectResponse{
		ID:           d.ConfigName.String(),
		RepoTags:     d.RepoTags,
		RepoDigests:  d.RepoDigests,
		Created:      cfg.Created.UTC().Format(time.RFC3339Nano),
		Author:       cfg.Author,
		Config:       inspectConfig(cfg.Config),
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		OsVersion:    cfg.OSVersion,
		Size:         d.Size,
		GraphDriver:  GraphDriver{Name: "berth", Data: map[string]string{"Root": d.Root}},
		RootFS:       RootFS{Type: "layers", Layers: []string{}},
		Metadata:     Metadata{LastTagTime: d.Added.UTC().Format(time.RFC3339Nano)},
		Descriptor:   &v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.ManifestSize},
		Manifests:    d.Manifests,
	}
	if ii.RepoTags == nil {
		ii.RepoTags = []string{}
	}
	if ii.RepoDigests == nil {
		ii.RepoDigests = []string{}
	}
	if len(cfg.History) > 0 {
		ii.Comment = cfg.History[len(cfg.History)-1].Comment
	}
	for _, h := range cfg.RootFS.DiffIDs {
		ii.RootFS.Layers = append(ii.RootFS.Layers, h.String())
	}
	return ii
}
