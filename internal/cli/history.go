package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/store"
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

// MarshalJSON is docker's row marshalling, keys sorted (see imageRow).
func (r historyRow) MarshalJSON() ([]byte, error) {
	type plain historyRow
	return output.SortedJSON(plain(r))
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
			plat, err := parsePlatformFlag(platform)
			if err != nil {
				return err
			}
			entries, err := s.History(ctx, args[0], store.HistoryOptions{Platform: plat})
			if err != nil {
				return err
			}
			now := time.Now()
			rows := make([]any, 0, len(entries))
			for _, h := range entries {
				if quiet {
					id := h.ID
					if id != "<missing>" {
						id = shortID(id, noTrunc)
					}
					a.printf("%s\n", id)
					continue
				}
				r := historyRow{ID: h.ID, CreatedBy: h.CreatedBy, Comment: h.Comment}
				if r.ID != "<missing>" {
					r.ID = shortID(r.ID, noTrunc)
				}
				if human {
					r.CreatedSince = output.Since(h.Created.Truncate(time.Second), now) // Docker's API has whole seconds
					r.CreatedAt = h.Created.Format(time.RFC3339)
					r.Size = output.HumanSize(h.Size)
				} else {
					r.CreatedSince = h.Created.Format(time.RFC3339)
					r.CreatedAt = r.CreatedSince
					r.Size = strconv.FormatInt(h.Size, 10)
				}
				if !noTrunc {
					r.CreatedBy = output.Truncate(strings.ReplaceAll(r.CreatedBy, "\n", " "), 45)
				}
				rows = append(rows, r)
			}
			if quiet {
				return nil
			}
			def := "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
			if !human { // Docker heads the dates CREATED AT then
				def = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
			}
			return output.Table{Format: format, Default: def, Headers: historyHeaders}.Write(a.stdout, rows)
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
