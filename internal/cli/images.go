package cli

import (
	"sort"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/store"
	"github.com/spf13/cobra"
)

// imageRow is one line of `images`: Docker's fields, as strings, so that
// --format templates and `json` print them as Docker does.
type imageRow struct {
	Containers   string
	CreatedAt    string
	CreatedSince string
	Digest       string
	ID           string
	Repository   string
	SharedSize   string
	Size         string
	Tag          string
	UniqueSize   string
	VirtualSize  string

	created time.Time
}

// MarshalJSON is docker's row marshalling: a map (keys sorted) through
// json.Marshal, so {{json .}} and --format json escape "<none>" as
// "\u003cnone\u003e" exactly as docker 28 prints them.
func (r imageRow) MarshalJSON() ([]byte, error) {
	type plain imageRow
	return output.SortedJSON(plain(r))
}

var imageHeaders = map[string]string{
	"Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED", "Digest": "DIGEST",
	"ID": "IMAGE ID", "Repository": "REPOSITORY", "SharedSize": "SHARED SIZE", "Size": "SIZE", "Tag": "TAG",
	"UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
}

func (a *app) newImagesCmd(use string) *cobra.Command {
	var (
		all, quiet, digests, noTrunc bool
		filters                      []string
		format                       string
	)
	cmd := &cobra.Command{
		Use:     use + " [OPTIONS] [REPOSITORY[:TAG]]",
		Short:   "List images",
		Args:    rangeArgs(0, 1),
		Example: "  berth images\n  berth images -a --digests\n  berth images --format \"table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}\"\n  berth images --filter dangling=true -q",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fs, err := parseFilterFlags(filters, store.ListFilterKeys)
			if err != nil {
				return err
			}
			var patterns []string
			for _, f := range fs {
				if f.Key == "reference" {
					patterns = append(patterns, f.Value)
				}
			}
			if len(args) == 1 {
				fs = append(fs, store.Filter{Key: "reference", Value: args[0]})
				patterns = append(patterns, args[0])
			}
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			imgs, err := s.List(ctx, store.ListOptions{Filters: fs})
			if err != nil {
				return err
			}
			now := time.Now()
			var rows []imageRow
			for _, img := range imgs {
				rec := img.Image
				// Docker's SIZE: what the files take, not the tars (the
				// record's size); counted once per layer, then kept.
				if n, err := s.ImageContentSize(ctx, rec); err == nil {
					rec.Size = n
				}
				rows = append(rows, imageRows(rec, noTrunc, now)...)
			}
			// Filtering by reference keeps only the matching names' rows.
			if len(patterns) > 0 {
				kept := rows[:0]
				for _, r := range rows {
					for _, p := range patterns {
						if store.MatchReference(p, r.Repository+":"+r.Tag) || store.MatchReference(p, r.Repository) {
							kept = append(kept, r)
							break
						}
					}
				}
				rows = kept
			}
			sort.SliceStable(rows, func(i, j int) bool { return rows[i].created.After(rows[j].created) })
			if quiet {
				seen := map[string]bool{}
				for _, r := range rows {
					if !seen[r.ID] {
						seen[r.ID] = true
						a.printf("%s\n", r.ID)
					}
				}
				return nil
			}
			def := "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
			if digests {
				def = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
				// Docker adds the column to a table format that lacks it.
				if strings.HasPrefix(format, "table ") && !strings.Contains(format, "{{.Digest}}") {
					format += "\t{{.Digest}}"
				}
			}
			out := make([]any, len(rows))
			for i := range rows {
				out[i] = rows[i]
			}
			return output.Table{Format: format, Default: def, Headers: imageHeaders}.Write(a.stdout, out)
		},
	}
	fl := cmd.Flags()
	// berth keeps no intermediate build images in the index, so -a shows
	// the same list; it is accepted because scripts pass it.
	fl.BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	fl.BoolVar(&digests, "digests", false, "Show digests")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fl.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	fl.StringVar(&format, "format", "", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	return cmd
}

// imageRows expands a record into Docker's rows: one per tag, one per
// repository known only by digest, or a single <none> row.
func imageRows(img store.Image, noTrunc bool, now time.Time) []imageRow {
	base := imageRow{
		Containers:   "N/A",
		CreatedAt:    img.Created.Format("2006-01-02 15:04:05 -0700 MST"),
		CreatedSince: output.Since(img.Created.Truncate(time.Second), now), // Docker's API has whole seconds
		ID:           shortID(img.ID.String(), noTrunc),
		SharedSize:   "N/A",
		UniqueSize:   "N/A",
		Size:         output.HumanSize(img.Size),
		VirtualSize:  output.HumanSize4(img.Size), // docker's four digits for this column
		created:      img.Created,
		Digest:       "<none>",
	}
	digestOf := map[string]string{} // familiar repo → digest
	tags := map[string][]string{}
	var order []string
	for _, n := range img.Names {
		r, err := ref.Parse(n)
		if err != nil {
			continue
		}
		repo := ref.FamiliarRepository(r)
		if _, seen := tags[repo]; !seen {
			order = append(order, repo)
			tags[repo] = nil
		}
		if i := strings.Index(n, "@"); i >= 0 {
			digestOf[repo] = n[i+1:]
		} else {
			tags[repo] = append(tags[repo], n[strings.LastIndex(n, ":")+1:])
		}
	}
	if len(order) == 0 {
		r := base
		r.Repository, r.Tag = "<none>", "<none>"
		return []imageRow{r}
	}
	var rows []imageRow
	for _, repo := range order {
		list := tags[repo]
		if len(list) == 0 {
			list = []string{"<none>"}
		}
		for _, t := range list {
			r := base
			r.Repository, r.Tag = repo, t
			if d, ok := digestOf[repo]; ok {
				r.Digest = d
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// shortID is Docker's 12-character image ID, or the full sha256:… form.
func shortID(id string, noTrunc bool) string {
	if noTrunc {
		return id
	}
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
