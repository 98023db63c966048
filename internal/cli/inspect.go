package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/output"
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
				d, err := s.Describe(ctx, img, store.InspectOptions{Platform: plat})
				if err != nil {
					return err
				}
				results = append(results, inspectJSON(d))
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

// inspectJSON renders the store's description in Docker's shape.
func inspectJSON(d *store.Details) *inspectImage {
	cfg := d.Config
	ii := &inspectImage{
		Id:           d.ConfigName.String(),
		RepoTags:     d.RepoTags,
		RepoDigests:  d.RepoDigests,
		Created:      cfg.Created.UTC().Format(time.RFC3339Nano),
		Author:       cfg.Author,
		Config:       cfg.Config,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		OsVersion:    cfg.OSVersion,
		Size:         d.Size,
		GraphDriver:  graphDriver{Name: "berth", Data: map[string]string{"Root": d.Root}},
		RootFS:       rootFS{Type: "layers", Layers: []string{}},
		Metadata:     inspectMetadata{LastTagTime: d.Added.UTC().Format(time.RFC3339Nano)},
		Descriptor:   &v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.ManifestSize},
		Manifests:    d.Manifests,
	}
	if len(cfg.History) > 0 {
		ii.Comment = cfg.History[len(cfg.History)-1].Comment
	}
	for _, h := range cfg.RootFS.DiffIDs {
		ii.RootFS.Layers = append(ii.RootFS.Layers, h.String())
	}
	return ii
}
