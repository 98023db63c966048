package cli

import (
	"context"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/spf13/cobra"
)

type searchOptions struct {
	remoteFlags
	limit   int
	filters []string
	noTrunc bool
	format  string
}

func (a *app) newSearchCmd() *cobra.Command {
	var o searchOptions
	cmd := &cobra.Command{
		Use:   "search [OPTIONS] TERM",
		Short: "Search Docker Hub (or HOST/TERM: a registry's catalog) for images",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runSearch(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.limit, "limit", 25, "Max number of search results")
	f.StringArrayVarP(&o.filters, "filter", "f", nil, "Filter output based on conditions provided (stars=N, is-official=true|false, is-automated=true|false)")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	f.StringVar(&o.format, "format", "", "Pretty-print search using a Go template")
	f.StringSliceVar(&o.insecure, "insecure-registry", nil, "Allow plain HTTP and unverified TLS for this registry (HOST[:PORT] or CIDR)")
	return cmd
}

func (a *app) runSearch(ctx context.Context, term string, o searchOptions) error {
	filter, err := remote.ParseSearchFilter(o.filters)
	opts := remote.SearchOptions{Term: term, Limit: o.limit, Filter: filter}
	if cerr := opts.Check(); cerr != nil {
		return usageError{cerr}
	}
	if err != nil {
		return usageError{err}
	}
	table := output.Table{Format: o.format, Default: searchDefaultFormat, Headers: searchHeader}
	if err := table.Check(); err != nil {
		return usageError{err}
	}
	c, err := a.newRemoteClient(&o.remoteFlags)
	if err != nil {
		return err
	}
	rows, err := c.Search(ctx, opts)
	if err != nil {
		return remoteErr(err)
	}
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = newSearchRow(r, o.noTrunc)
	}
	return table.Write(a.stdout, out)
}

// searchRow is what --format templates see: Docker's field names, with
// the description shortened to 45 characters unless --no-trunc and the
// booleans shown as Docker shows them ("[OK]" or nothing).
type searchRow struct {
	Name        string
	Description string
	StarCount   string
	IsOfficial  string
	IsAutomated string
}

// MarshalJSON sorts the keys, as docker search --format json does.
func (r searchRow) MarshalJSON() ([]byte, error) {
	type plain searchRow
	return output.SortedJSON(plain(r))
}

const searchDescWidth = 45

func newSearchRow(r remote.SearchResult, noTrunc bool) searchRow {
	desc := strings.ReplaceAll(r.Description, "\n", " ")
	if !noTrunc {
		desc = ellipsis(desc, searchDescWidth)
	}
	return searchRow{Name: r.Name, Description: desc, StarCount: strconv.Itoa(r.StarCount), IsOfficial: okMark(r.IsOfficial), IsAutomated: okMark(r.IsAutomated)}
}

func okMark(b bool) string {
	if b {
		return "[OK]"
	}
	return ""
}

// ellipsis cuts s to max runes, the last being "…", as Docker's CLI does.
func ellipsis(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}

// Docker's default table: NAME DESCRIPTION STARS OFFICIAL.
const searchDefaultFormat = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"

var searchHeader = map[string]string{
	"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
	"IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED",
}
