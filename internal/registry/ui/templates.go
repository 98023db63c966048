package ui

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// pageNames are the templates under templates/, each executed inside
// layout.html.
var pageNames = []string{"repositories", "repository", "manifest", "delete", "dive", "error"}

// parseTemplates parses the embedded templates once; a broken template is a
// bug caught by every test, so failing here is right.
func parseTemplates(funcs template.FuncMap) map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, p := range pageNames {
		out[p] = template.Must(template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html"))
	}
	return out
}

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"size":  humanSize,
		"short": shortDigest,
		"when":  when,
		"pct":   func(f float64) string { return fmt.Sprintf("%.1f %%", f*100) },
		"join":  strings.Join,
		"keys":  sortedKeys[string],
		"ports": sortedKeys[struct{}],
		"repoLink": func(name string) string {
			return h.link(pathRepo + name)
		},
		"tagLink": func(name, tag string) string {
			return h.link(pathRepo + name + "/-/tag/" + tag)
		},
		"manifestLink": func(name, dg string) string {
			return h.link(pathRepo + name + "/-/manifest/" + dg)
		},
		"deleteLink": func(name, ref string) string {
			return h.link(pathRepo+name+"/-/delete", "ref", ref)
		},
		"pull": func(host, name, ref string) string {
			sep := ":"
			if strings.Contains(ref, ":") {
				sep = "@"
			}
			return "docker pull " + host + "/" + name + sep + ref
		},
		"berthPull": func(host, name, ref string) string {
			sep := ":"
			if strings.Contains(ref, ":") {
				sep = "@"
			}
			return "berth pull " + host + "/" + name + sep + ref
		},
		"add": func(a, b int) int { return a + b },
	}
}

// humanSize prints sizes as docker images does: decimal units, three
// significant digits.
func humanSize(v any) string {
	var n float64
	switch x := v.(type) {
	case int64:
		n = float64(x)
	case uint64:
		n = float64(x)
	case int:
		n = float64(x)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for n >= 1000 && i < len(units)-1 {
		n /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.3g %s", n, units[i])
}

func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
