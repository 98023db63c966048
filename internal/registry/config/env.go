package config

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// applyEnv sets the keys named by REGISTRY_* variables in environ, as
// distribution does: the name after REGISTRY_ is the key's path with "_"
// between the levels (no key contains "_"). REGISTRY_STORAGE and
// REGISTRY_AUTH pick the storage driver and the auth scheme first, so that
// REGISTRY_STORAGE=s3 with REGISTRY_STORAGE_S3_BUCKET works over a file
// that configures the filesystem.
func applyEnv(root map[string]any, environ []string) ([]string, error) {
	type kv struct{ name, path, val string }
	var vars []kv
	for _, e := range environ {
		k, v, ok := strings.Cut(e, "=")
		rest, isReg := strings.CutPrefix(k, "REGISTRY_")
		if !ok || !isReg || rest == "" {
			continue
		}
		vars = append(vars, kv{k, strings.ToLower(rest), v})
	}
	sort.Slice(vars, func(i, j int) bool {
		pi, pj := choiceRank(vars[i].path), choiceRank(vars[j].path)
		if pi != pj {
			return pi < pj
		}
		return vars[i].name < vars[j].name
	})
	var warnings []string
	for _, v := range vars {
		if v.path == "storage" || v.path == "auth" {
			choose(root, v.path, strings.ToLower(v.val))
			continue
		}
		segs := strings.Split(v.path, "_")
		if _, ok := schema.sub[segs[0]]; !ok {
			warnings = append(warnings, fmt.Sprintf("ignoring %s: no configuration section %q", v.name, segs[0]))
			continue
		}
		if err := setEnv(root, schema, segs, v.name, v.val); err != nil {
			return nil, err
		}
	}
	return warnings, nil
}

func choiceRank(path string) int {
	if path == "storage" || path == "auth" {
		return 0
	}
	return 1
}

// choose makes kind the only driver (storage) or scheme (auth) of section.
func choose(root map[string]any, section, kind string) {
	m, _ := root[section].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	for k := range m {
		if k != kind && (section == "auth" || storageDrivers[k]) {
			delete(m, k)
		}
	}
	if _, ok := m[kind]; !ok {
		m[kind] = map[string]any{}
	}
	root[section] = m
}

// setEnv stores val at the path segs, parsed as the schema says.
func setEnv(m map[string]any, n *node, segs []string, name, val string) error {
	key := segs[0]
	sub, ok := n.sub[key]
	if !ok {
		return fmt.Errorf("%s: unknown key %s (%s)", name, key, known(n))
	}
	rest := segs[1:]
	switch sub.kind {
	case kSection:
		if len(rest) == 0 {
			v, err := parseYAML(name, val)
			if err != nil {
				return err
			}
			if vm, ok := v.(map[string]any); ok {
				v = lowerKeys(vm)
			}
			m[key] = v
			return nil
		}
		child, _ := m[key].(map[string]any)
		if child == nil {
			child = map[string]any{}
			m[key] = child
		}
		return setEnv(child, sub, rest, name, val)
	case kHeaders, kMap:
		if len(rest) == 0 {
			v, err := parseYAML(name, val)
			if err != nil {
				return err
			}
			m[key] = v
			return nil
		}
		child, _ := m[key].(map[string]any)
		if child == nil {
			child = map[string]any{}
			m[key] = child
		}
		field := strings.Join(rest, "_")
		if sub.kind == kHeaders {
			child[http.CanonicalHeaderKey(field)] = splitList(val)
		} else {
			child[field] = val
		}
		return nil
	case kAny:
		// A refused section: record the value so that check names it.
		v := any(val)
		for i := len(rest) - 1; i >= 0; i-- {
			v = map[string]any{rest[i]: v}
		}
		m[key] = v
		return nil
	}
	if len(rest) > 0 {
		return fmt.Errorf("%s: %s has no key %s", name, key, strings.Join(rest, "_"))
	}
	switch sub.kind {
	case kString:
		m[key] = val
	case kBool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("%s=%q is not a boolean", name, val)
		}
		m[key] = b
	case kInt:
		i, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("%s=%q is not an integer", name, val)
		}
		m[key] = i
	case kDuration:
		if _, err := time.ParseDuration(val); err != nil {
			if i, ierr := strconv.Atoi(val); ierr == nil {
				m[key] = i
				return nil
			}
			return fmt.Errorf("%s=%q is not a duration such as 10s", name, val)
		}
		m[key] = val
	case kStrings:
		m[key] = splitList(val)
	case kList:
		v, err := parseYAML(name, val)
		if err != nil {
			return err
		}
		m[key] = v
	}
	return nil
}

// splitList reads a list variable: YAML flow syntax ([a, b]) or commas.
func splitList(val string) []any {
	if strings.HasPrefix(strings.TrimSpace(val), "[") {
		var l []any
		if yaml.Unmarshal([]byte(val), &l) == nil {
			return l
		}
	}
	var out []any
	for p := range strings.SplitSeq(val, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseYAML(name, val string) (any, error) {
	var v any
	if err := yaml.Unmarshal([]byte(val), &v); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %v", name, err)
	}
	return v, nil
}
