package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"text/template"

	"github.com/berth-dev/berth/internal/engineapi"
	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/store"
	"github.com/spf13/cobra"
)

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
			plat, err := parsePlatformFlag(platform)
			if err != nil {
				return err
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
				results = append(results, engineapi.Inspect(d))
			}
			if format == "json" {
				// docker 28's -f json: every result in one compact array.
				if results == nil {
					results = []any{}
				}
				b, err := json.Marshal(results)
				if err != nil {
					return err
				}
				a.stdout.Write(append(b, '\n'))
			} else if format != "" {
				tmpl, err := output.Parse(format)
				if err != nil {
					return usageError{err}
				}
				for _, r := range results {
					buf, err := inspectTemplate(tmpl, r)
					if err != nil {
						return err
					}
					buf.WriteByte('\n')
					a.stdout.Write(buf.Bytes())
				}
			} else {
				if results == nil {
					results = []any{}
				}
				// As Docker's daemon writes JSON: "<" stays "<".
				var b bytes.Buffer
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "    ")
				if err := enc.Encode(results); err != nil {
					return err
				}
				a.stdout.Write(b.Bytes())
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

// inspectTemplate runs an --format template the way the docker CLI does: on
// the typed value first and, when that fails (a field the type lacks), on
// the JSON document, numbers kept as written.
func inspectTemplate(tmpl *template.Template, v any) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err == nil {
		return &buf, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	buf.Reset()
	if err := tmpl.Execute(&buf, doc); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return &buf, nil
}
