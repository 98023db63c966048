package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode/utf8"
)

// Funcs are the template functions Docker's --format offers.
var Funcs = template.FuncMap{
	// Docker's json function does not escape HTML ({{json .Repository}}
	// is "<none>"); a row that marshals itself (a whole listing row, as
	// {{json .}} prints it) keeps its own escaping, as Docker's rows do.
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		err := enc.Encode(v)
		return strings.TrimSpace(b.String()), err
	},
	"split":    strings.Split,
	"join":     strings.Join,
	"title":    func(s string) string { return strings.ToUpper(s[:min(1, len(s))]) + s[min(1, len(s)):] },
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	"truncate": func(s string, n int) string { return Truncate(s, n) },
	"println":  fmt.Sprintln,
}

// Table renders rows through a --format value. A format starting with
// "table" prints a header (each field replaced by its column title) and
// aligns columns; "json" prints each row as one JSON object per line; any
// other value is a plain Go template run once per row.
type Table struct {
	Format  string            // the user's --format
	Default string            // the command's table, for an empty Format or "table" (Docker's TableFormatKey)
	Headers map[string]string // field name → column title, e.g. "ID" → "IMAGE ID"
}

// Write renders rows (each a map of field name to value, or a struct).
func (t Table) Write(w io.Writer, rows []any) error {
	f := t.Format
	if f == "" || f == "table" {
		f = t.Default
	}
	switch {
	case f == "json":
		// Escaped as docker's own json output is (json.Marshal:
		// "<none>" is "\u003cnone\u003e"), so the two print the same bytes.
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	case strings.HasPrefix(f, "table"):
		body := strings.TrimPrefix(f, "table")
		body = strings.TrimLeft(body, " ")
		if body == "" {
			return fmt.Errorf("template parsing error: table format needs fields")
		}
		tmpl, err := Parse(body)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		if err := tmpl.Execute(tw, t.Headers); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		fmt.Fprintln(tw)
		for _, r := range rows {
			if err := tmpl.Execute(tw, r); err != nil {
				return fmt.Errorf("template: %w", err)
			}
			fmt.Fprintln(tw)
		}
		return tw.Flush()
	default:
		tmpl, err := Parse(f)
		if err != nil {
			return err
		}
		for _, r := range rows {
			var buf bytes.Buffer
			if err := tmpl.Execute(&buf, r); err != nil {
				return fmt.Errorf("template: %w", err)
			}
			buf.WriteByte('\n')
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
		}
		return nil
	}
}

// Check parses the format as Write would, so a command can refuse a bad
// template before it does any work.
func (t Table) Check() error {
	f := t.Format
	if f == "" || f == "table" {
		f = t.Default
	}
	if f == "json" {
		return nil
	}
	_, err := Parse(strings.TrimLeft(strings.TrimPrefix(f, "table"), " "))
	return err
}

// SortedJSON marshals v (a struct) as an object with its keys sorted, as
// Docker's formatter contexts marshal their rows (a map). Callers pass a
// type without their MarshalJSON method, so this does not recurse.
func SortedJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// Parse parses a --format template with Docker's functions. Docker users
// write `\t` literally in shells, so the two-character escape is honoured.
func Parse(f string) (*template.Template, error) {
	f = strings.ReplaceAll(f, `\t`, "\t")
	f = strings.ReplaceAll(f, `\n`, "\n")
	t, err := template.New("format").Funcs(Funcs).Option("missingkey=error").Parse(f)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// Truncate shortens s to n runes, ending with "…" as Docker does.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n || n <= 0 {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
