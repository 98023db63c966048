package analyze

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxCIConfig bounds a .dive-ci file: a few rules, not megabytes.
const MaxCIConfig = 1 << 20

// ReadCIConfig reads dive's .dive-ci file at path; found is false (and the
// rules zero, i.e. the defaults) when there is none.
func ReadCIConfig(path string) (r Rules, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Rules{}, false, nil
	}
	if err != nil {
		return Rules{}, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCIConfig+1))
	if err != nil {
		return Rules{}, true, err
	}
	r, err = ParseCIConfig(data)
	if err != nil {
		return r, true, fmt.Errorf("parsing %s: %w", path, err)
	}
	return r, true, nil
}

// ParseCIConfig parses dive's .dive-ci YAML (`rules:` with the three keys).
// Like dive (through viper) keys are case-insensitive and values may be
// numbers or strings; other keys are ignored.
func ParseCIConfig(data []byte) (Rules, error) {
	if len(data) > MaxCIConfig {
		return Rules{}, fmt.Errorf("larger than %d bytes", MaxCIConfig)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Rules{}, err
	}
	var r Rules
	for k, v := range doc {
		if !strings.EqualFold(k, "rules") {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return r, errors.New("rules must be a mapping")
		}
		for rk, rv := range m {
			s := yamlString(rv)
			switch strings.ToLower(rk) {
			case "lowestefficiency":
				r.LowestEfficiency = s
			case "highestwastedbytes":
				r.HighestWastedBytes = s
			case "highestuserwastedpercent":
				r.HighestUserWastedPercent = s
			}
		}
	}
	return r, nil
}

// yamlString renders a YAML scalar the way viper's GetString does.
func yamlString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
