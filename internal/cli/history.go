package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/output"
	"github.com/spf13/cobra"
)

type historyRow struct {
	ID           string
	CreatedAt    string
	CreatedSince string
	CreatedBy    string
	Size         string
	Comment      string
}

var historyHeaders = map[string]string{
	"ID": "IMAGE", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY",
	"Size": "SIZE", "Comment": "COMMENT",
}

func (a *app) newHistoryCmd(use string) *cobra.Command {
	var (
		human, noTrunc, quiet bool
		format, platform      string
	)
	cmd := &cobra.Command{
		Use:     use + " [OPTIONS] IMAGE",
		Short:   "Show the history of an image",
		Args:    exactArgs(1),
		Example: "  berth history busybox\n  berth history --no-trunc --format '{{.CreatedBy}}' myapp:1",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			img, err := s.Lookup(ctx, args[0])
			if err != nil {
				return err
			}
			plat, err := parsePlatformFlag(platform)
			if err != nil {
				return err
			}
			vimg, err := s.Image(ctx, img, plat)
			if err != nil {
				return err
			}
			cfg, err := vimg.ConfigFile()
			if err != nil {
				return err
			}
			m, err := vimg.Manifest()
			if err != nil {
				return err
			}
			now := time.Now()
			var rows []any
			li := 0
			// Walk oldest to newest to pair entries with layers, then print
			// newest first.
			var entries []historyRow
			for _, h := range cfg.History {
				var size int64
				if !h.EmptyLayer && li < len(m.Layers) {
					n, err := s.LayerSize(m.Layers[li])
					if err != nil {
						return err
					}
					size = n
					li++
				}
				r := historyRow{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment}
				if human {
					r.CreatedSince = output.Since(h.Created.Time, now)
					r.CreatedAt = h.Created.Format(time.RFC3339)
					r.Size = output.HumanSize(size)
				} else {
					r.CreatedSince = h.Created.Format(time.RFC3339)
					r.CreatedAt = r.CreatedSince
					r.Size = strconv.FormatInt(size, 10)
				}
				if !noTrunc {
					r.CreatedBy = output.Truncate(strings.ReplaceAll(r.CreatedBy, "\n", " "), 45)
				}
				entries = append(entries, r)
			}
			if len(entries) > 0 {
				entries[len(entries)-1].ID = shortID(img.ID.String(), noTrunc)
			}
			for i := len(entries) - 1; i >= 0; i-- {
				if quiet {
					a.printf("%s\n", entries[i].ID)
					continue
				}
				rows = append(rows, entries[i])
			}
			if quiet {
				return nil
			}
			if format == "" {
				format = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
			}
			return output.Table{Format: format, Headers: historyHeaders}.Write(a.stdout, rows)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&human, "human", "H", true, "Print sizes and dates in human readable format")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	fl.StringVar(&format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')")
	fl.StringVar(&platform, "platform", "", "Show history for the given platform of a multi-platform image")
	return cmd
}
