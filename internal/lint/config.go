package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"

	"gopkg.in/yaml.v3"
)

// ConfigName is the config file berth lint reads from the context's root
// (or --config): rules to switch off or re-level, by id.
//
//	rules:
//	  ConsecutiveRun: off
//	  RootUser: error
//	  JSONArgsRecommended: info
const ConfigName = ".berth-lint.yaml"

// MaxConfigSize bounds a config file: it is a short list.
const MaxConfigSize = 1 << 20

// Config re-levels rules; a rule it does not name keeps its default.
type Config struct {
	Rules map[string]Level
}

// ParseConfig reads a .berth-lint.yaml. Unknown keys, unknown rule ids and
// unknown levels are errors, so a typo does not silently keep a rule on.
func ParseConfig(data []byte) (Config, error) {
	if len(data) > MaxConfigSize {
		return Config{}, fmt.Errorf("%s is larger than %d bytes", ConfigName, MaxConfigSize)
	}
	var raw struct {
		Rules map[string]string `yaml:"rules"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("reading %s: %w", ConfigName, err)
	}
	c := Config{Rules: map[string]Level{}}
	ids := make([]string, 0, len(raw.Rules))
	for id := range raw.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !KnownRule(id) {
			return Config{}, fmt.Errorf("reading %s: unknown rule %q", ConfigName, id)
		}
		l, err := ParseLevel(raw.Rules[id])
		if err != nil {
			return Config{}, fmt.Errorf("reading %s: rule %s: %w", ConfigName, id, err)
		}
		c.Rules[id] = l
	}
	return c, nil
}

// KnownRule reports whether id is one of berth's rules or BuildKit's.
func KnownRule(id string) bool {
	if _, ok := buildkitAdvice[id]; ok {
		return true
	}
	for _, r := range rules {
		if r.ID == id {
			return true
		}
	}
	return false
}
