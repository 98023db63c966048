package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"

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
	tmpl, table, err := searchTemplate(o.format)
	if err != nil {
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
	tw := tabwriter.NewWriter(a.stdout, 10, 1, 3, ' ', 0)
	if table {
		if err := tmpl.Execute(tw, searchHeader); err != nil {
			return err
		}
		fmt.Fprintln(tw)
	}
	for _, r := range rows {
		if err := tmpl.Execute(tw, newSearchRow(r, o.noTrunc)); err != nil {
			return fmt.Errorf("executing --format template: %w", err)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
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

func searchTemplate(format string) (*template.Template, bool, error) {
	if format == "" || format == "table" {
		format = searchDefaultFormat
	}
	table := false
	if rest, ok := strings.CutPrefix(format, "table "); ok {
		table, format = true, rest
	} else if format == "table" {
		table = true
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := template.New("search").Option("missingkey=zero").Parse(format)
	if err != nil {
		return nil, false, errors.New("invalid --format template: " + err.Error())
	}
	return t, table, nil
}
