package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

// inspectImage has the fields and JSON names of `docker image inspect`.
type inspectImage struct {
	// Id is spelt as Docker spells it so that --format {{.Id}} works.
	Id            string          `json:"Id"`
	RepoTags      []string        `json:"RepoTags"`
	RepoDigests   []string        `json:"RepoDigests"`
	Parent        string          `json:"Parent"`
	Comment       string          `json:"Comment"`
	Created       string          `json:"Created"`
	DockerVersion string          `json:"DockerVersion"`
	Author        string          `json:"Author"`
	Config        v1.Config       `json:"Config"`
	Architecture  string          `json:"Architecture"`
	Variant       string          `json:"Variant,omitempty"`
	Os            string          `json:"Os"`
	OsVersion     string          `json:"OsVersion,omitempty"`
	Size          int64           `json:"Size"`
	GraphDriver   graphDriver     `json:"GraphDriver"`
	RootFS        rootFS          `json:"RootFS"`
	Metadata      inspectMetadata `json:"Metadata"`
	Descriptor    *v1.Descriptor  `json:"Descriptor,omitempty"`
	Manifests     []v1.Descriptor `json:"Manifests,omitempty"`
}

type graphDriver struct {
	Data map[string]string `json:"Data"`
	Name string            `json:"Name"`
}

type rootFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

type inspectMetadata struct {
	LastTagTime string `json:"LastTagTime"`
}

func (a *app) newInspectCmd(use string) *cobra.Command {
	var format, platform string
	cmd := &cobra.Command{
		Use:     use + " [OPTIONS] IMAGE [IMAGE...]",
		Short:   "Display detailed information on one or more images",
		Args:    minArgs(1),
		Example: "  berth image inspect busybox\n  berth inspect -f '{{.Config.Cmd}} {{.Os}}/{{.Architecture}}' busybox",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			var plat *v1.Platform
			if platform != "" {
				p, err := v1.ParsePlatform(platform)
				if err != nil {
					return usageError{err}
				}
				plat = p
			}
			var results []any
			var firstErr error
			for _, q := range args {
				img, err := s.Lookup(ctx, q)
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					fmt.Fprintf(a.stderr, "berth: error: %v\n", err)
					continue
				}
				ii, err := inspect(ctx, s, img, plat)
				if err != nil {
					return err
				}
				results = append(results, ii)
			}
			if format != "" {
				tmpl, err := output.Parse(format)
				if err != nil {
					return usageError{err}
				}
				for _, r := range results {
					var buf bytes.Buffer
					if err := tmpl.Execute(&buf, r); err != nil {
						return fmt.Errorf("template: %w", err)
					}
					buf.WriteByte('\n')
					a.stdout.Write(buf.Bytes())
				}
			} else {
				if results == nil {
					results = []any{}
				}
				b, err := json.MarshalIndent(results, "", "    ")
				if err != nil {
					return err
				}
				a.stdout.Write(append(b, '\n'))
			}
			if firstErr != nil {
				// Already printed per argument, as Docker does.
				return exitError{code: exitFailure}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().StringVar(&platform, "platform", "", "Inspect a specific platform of a multi-platform image")
	return cmd
}

func inspect(ctx context.Context, s *store.Store, img store.Image, plat *v1.Platform) (*inspectImage, error) {
	vimg, err := s.Image(ctx, img, plat)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", img.Digest, err)
	}
	cfg, err := vimg.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", img.Digest, err)
	}
	cfgName, _ := vimg.ConfigName()
	m, err := vimg.Manifest()
	if err != nil {
		return nil, err
	}
	size := int64(0)
	for _, l := range m.Layers {
		n, err := s.LayerSize(l)
		if err != nil {
			return nil, err
		}
		size += n
	}
	ii := &inspectImage{
		Id:           cfgName.String(),
		RepoTags:     []string{},
		RepoDigests:  []string{},
		Created:      cfg.Created.UTC().Format(time.RFC3339Nano),
		Author:       cfg.Author,
		Config:       cfg.Config,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		OsVersion:    cfg.OSVersion,
		Size:         size,
		GraphDriver:  graphDriver{Name: "berth", Data: map[string]string{"Root": s.Root()}},
		RootFS:       rootFS{Type: "layers", Layers: []string{}},
		Metadata:     inspectMetadata{LastTagTime: img.Added.UTC().Format(time.RFC3339Nano)},
		Descriptor:   &v1.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.ManifestSize},
	}
	if len(cfg.History) > 0 {
		ii.Comment = cfg.History[len(cfg.History)-1].Comment
	}
	for _, d := range cfg.RootFS.DiffIDs {
		ii.RootFS.Layers = append(ii.RootFS.Layers, d.String())
	}
	for _, n := range img.Names {
		r, err := ref.Parse(n)
		if err != nil {
			continue
		}
		fam := ref.Familiar(r)
		if _, isDigest := r.(interface{ DigestStr() string }); isDigest {
			ii.RepoDigests = append(ii.RepoDigests, fam)
		} else {
			ii.RepoTags = append(ii.RepoTags, fam)
		}
	}
	if img.IsIndex() {
		if idx, err := s.IndexManifest(img.Digest); err == nil {
			ii.Manifests = idx.Manifests
		}
	}
	return ii, nil
}
