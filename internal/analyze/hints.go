package analyze

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/berth-dev/berth/internal/pkgcache"
)

// Hint is one piece of advice in plain words, tied to the files and layers
// that prompted it.
type Hint struct {
	Kind    string   `json:"kind"`
	Message string   `json:"message"`
	Paths   []string `json:"paths,omitempty"`
	Layers  []int    `json:"layers,omitempty"`
	Bytes   int64    `json:"bytes"`
	Rule    string   `json:"rule,omitempty"` // the `berth lint` rule that flags the same thing, if any
}

const (
	largeBase    = 100_000_000 // bytes: a base layer this big is worth a smaller base
	maxHintPaths = 5
)

// finalView is the image's filesystem after every layer, unmarked, and what
// the layers deleted on the way: what the hints look at.
type finalView struct {
	root    *ViewNode
	removed []removal
}

func buildFinal(layers []*Layer) finalView {
	var f finalView
	last := len(layers) - 1
	f.root = buildView(layers, last, last+1, func(rm removal) { f.removed = append(f.removed, rm) })
	return f
}

func findHints(r *Report, fv finalView) []Hint {
	if len(r.Layers) == 0 {
		return nil
	}
	var hints []Hint
	final, removed := fv.root, fv.removed

	for _, c := range pkgcache.Caches {
		d := viewLookup(final, c.Dir)
		if d == nil || d.Size == 0 {
			continue
		}
		var layers []int
		d.Walk(func(v *ViewNode) bool {
			if !v.IsDir() && v.Size > 0 {
				layers = appendUnique(layers, int(v.Layer))
			}
			return true
		})
		// The lint rule that flags the RUN leaving it, so that dive and
		// `berth lint` name the same thing.
		rule := ""
		if c.Rule != "" {
			rule = " (berth lint: " + c.Rule + ")"
		}
		hints = append(hints, Hint{
			Kind:    "cache",
			Message: fmt.Sprintf("%s are left in %s (%s, %s): %s%s.", c.What, c.Dir, humanize.Bytes(uint64(d.Size)), r.layerNames(layers), c.Fix, rule),
			Paths:   []string{c.Dir}, Layers: layers, Bytes: d.Size, Rule: c.Rule,
		})
	}

	// Files a later layer deletes: their bytes stay in the lower layer.
	sort.SliceStable(removed, func(i, j int) bool { return removed[i].size > removed[j].size })
	var delPaths []string
	var delLayers []int
	var delBytes int64
	for _, rm := range removed {
		if rm.size == 0 {
			continue
		}
		delBytes += rm.size
		if len(delPaths) < maxHintPaths {
			delPaths = append(delPaths, rm.node.Path())
			delLayers = appendUnique(appendUnique(delLayers, int(rm.node.Layer)), rm.layer)
		}
	}
	if delBytes > 0 {
		top := removed[0]
		hints = append(hints, Hint{
			Kind: "add-then-delete",
			Message: fmt.Sprintf("%s of files are added in one layer and deleted in a later one, so they still ship; the largest is %s (%s, added by %s, deleted by %s). Delete files in the same RUN that creates them, or use a multi-stage build.",
				humanize.Bytes(uint64(delBytes)), Printable(top.node.Path()), humanize.Bytes(uint64(top.size)), r.layerName(int(top.node.Layer)), r.layerName(top.layer)),
			Paths: delPaths, Layers: delLayers, Bytes: delBytes,
		})
	}

	// The same content written to the same path twice.
	var dupPaths []string
	var dupLayers []int
	var dupBytes int64
	for _, in := range r.Inefficiencies {
		n := len(in.infos)
		if n < 2 || in.Removed {
			continue
		}
		a, b := in.infos[n-2], in.infos[n-1]
		if a.IsDir || a.Size == 0 || a.Size != b.Size || !a.same(b) {
			continue
		}
		dupBytes += a.Size
		if len(dupPaths) < maxHintPaths {
			dupPaths = append(dupPaths, in.Path)
			dupLayers = appendUnique(appendUnique(dupLayers, in.Layers[n-2]), in.Layers[n-1])
		}
	}
	if dupBytes > 0 {
		hints = append(hints, Hint{
			Kind: "copied-twice",
			Message: fmt.Sprintf("%s of files are copied twice with the same content (%s, %s): copy them once.",
				humanize.Bytes(uint64(dupBytes)), printableJoin(dupPaths), r.layerNames(dupLayers)),
			Paths: dupPaths, Layers: dupLayers, Bytes: dupBytes,
		})
	}

	// The same content at several paths of the final image (a file copied
	// to two places): only files of 64 KiB and more, where it matters.
	type content struct {
		hash uint64
		size int64
	}
	copies := map[content][]*ViewNode{}
	final.Walk(func(v *ViewNode) bool {
		if !v.IsDir() && v.Info.Type == '0' && v.Info.Size >= 64<<10 {
			k := content{v.Info.Hash, v.Info.Size}
			copies[k] = append(copies[k], v)
		}
		return true
	})
	var dupContent []content
	for k, vs := range copies {
		if len(vs) > 1 {
			dupContent = append(dupContent, k)
		}
	}
	sort.Slice(dupContent, func(i, j int) bool {
		a, b := dupContent[i], dupContent[j]
		return a.size*int64(len(copies[a])) > b.size*int64(len(copies[b]))
	})
	if len(dupContent) > 0 {
		var paths []string
		var layers []int
		var extra int64
		for _, k := range dupContent {
			vs := copies[k]
			extra += k.size * int64(len(vs)-1)
			for _, v := range vs {
				if len(paths) < maxHintPaths {
					paths = append(paths, v.Path())
					layers = appendUnique(layers, int(v.Layer))
				}
			}
		}
		sort.Strings(paths)
		hints = append(hints, Hint{
			Kind: "duplicate-content",
			Message: fmt.Sprintf("%s is spent on files whose exact content is also at another path (%s, %s): copy once and link, or copy to one place.",
				humanize.Bytes(uint64(extra)), printableJoin(paths), r.layerNames(layers)),
			Paths: paths, Layers: layers, Bytes: extra,
		})
	}

	// Files rewritten with new content: the old copy stays in the lower layer.
	var owPaths []string
	var owLayers []int
	var owBytes int64
	for _, in := range r.Inefficiencies {
		n := len(in.infos)
		if n < 2 || in.Removed || in.Reclaimable == 0 {
			continue
		}
		a, b := in.infos[n-2], in.infos[n-1]
		if a.IsDir || (a.Size == b.Size && a.same(b)) {
			continue
		}
		owBytes += in.Reclaimable
		if len(owPaths) < maxHintPaths {
			owPaths = append(owPaths, in.Path)
			for _, l := range in.Layers {
				owLayers = appendUnique(owLayers, l)
			}
		}
	}
	if owBytes > 0 {
		hints = append(hints, Hint{
			Kind: "overwritten",
			Message: fmt.Sprintf("%s of files are written again by a later layer, and the old copies still ship (%s, %s): change them in the RUN that creates them, or merge those steps.",
				humanize.Bytes(uint64(owBytes)), printableJoin(owPaths), r.layerNames(owLayers)),
			Paths: owPaths, Layers: owLayers, Bytes: owBytes,
		})
	}

	var tools []string
	var toolLayers []int
	for _, p := range pkgcache.ToolPaths {
		if v := viewLookup(final, p); v != nil {
			tools = append(tools, p)
			toolLayers = appendUnique(toolLayers, int(v.Layer))
		}
	}
	if len(tools) > 0 {
		hints = append(hints, Hint{
			Kind: "build-tools",
			Message: fmt.Sprintf("build tools are left in the final image (%s, %s): build in one stage and COPY --from it only what runs into a slim final stage (a multi-stage build).",
				strings.Join(tools, ", "), r.layerNames(toolLayers)),
			Paths: tools, Layers: toolLayers, Rule: pkgcache.ToolchainRule,
		})
	}

	if base := r.Layers[0].Size; base >= largeBase && len(r.Layers) > 0 {
		pct := 100 * float64(base) / float64(r.SizeBytes)
		hints = append(hints, Hint{
			Kind: "large-base",
			Message: fmt.Sprintf("the base layer is %s, %.0f%% of the image: a smaller base (alpine, distroless or a -slim tag) makes every pull and scan cheaper.",
				humanize.Bytes(uint64(base)), pct),
			Layers: []int{0}, Bytes: base,
		})
	}
	return hints
}

func printableJoin(paths []string) string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = Printable(p)
	}
	return strings.Join(out, ", ")
}

func appendUnique(s []int, v int) []int {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// layerName names a layer for a hint: its number (from 1, as shown) and the
// start of its command.
func (r *Report) layerName(i int) string {
	if i < 0 || i >= len(r.Layers) {
		return "an unknown layer"
	}
	cmd := Printable(strings.TrimSpace(r.Layers[i].Command))
	if len(cmd) > 50 {
		cmd = cmd[:47] + "..."
	}
	if cmd == "" || cmd == "(missing)" {
		return fmt.Sprintf("layer %d", i+1)
	}
	return fmt.Sprintf("layer %d `%s`", i+1, cmd)
}

func (r *Report) layerNames(idx []int) string {
	sort.Ints(idx)
	names := make([]string, len(idx))
	for i, x := range idx {
		names[i] = r.layerName(x)
	}
	if len(names) == 1 {
		return "from " + names[0]
	}
	return "from " + strings.Join(names, ", ")
}
