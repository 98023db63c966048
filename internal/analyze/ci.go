package analyze

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
)

// Rules are dive's CI rules as dive keeps them: raw strings, "disabled" to
// turn one off. The zero value means dive's defaults.
type Rules struct {
	LowestEfficiency         string // ratio 0-1; default "0.9"
	HighestWastedBytes       string // humanized bytes ("20MB"); default "disabled"
	HighestUserWastedPercent string // ratio 0-1; default "0.1"
}

// DefaultRules returns dive's defaults.
func DefaultRules() Rules {
	return Rules{LowestEfficiency: "0.9", HighestWastedBytes: "disabled", HighestUserWastedPercent: "0.1"}
}

// RuleStatus is the outcome of one rule.
type RuleStatus int

const (
	RulePassed RuleStatus = iota + 1
	RuleFailed
	RuleWarning
	RuleDisabled
	RuleMisconfigured
	// RuleConfigured is what dive shows for the sound rules when another
	// one is misconfigured and nothing was evaluated.
	RuleConfigured
)

func (s RuleStatus) String() string {
	switch s {
	case RulePassed:
		return "PASS"
	case RuleFailed:
		return "FAIL"
	case RuleWarning:
		return "WARN"
	case RuleDisabled:
		return "SKIP"
	case RuleMisconfigured:
		return "MISCONFIGURED"
	case RuleConfigured:
		return "CONFIGURED   "
	}
	return "Unknown"
}

// MarshalText makes RuleStatus read as a word in JSON.
func (s RuleStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// RuleResult is one rule's verdict.
type RuleResult struct {
	Rule    string     `json:"rule"`
	Status  RuleStatus `json:"status"`
	Message string     `json:"message,omitempty"`
}

// CIResult is the verdict of every rule, sorted by rule name as dive prints them.
type CIResult struct {
	Results       []RuleResult `json:"results"`
	Pass          bool         `json:"pass"`
	Misconfigured bool         `json:"misconfigured"`
	Passed        int          `json:"passed"`
	Failed        int          `json:"failed"`
	Warned        int          `json:"warned"`
	Skipped       int          `json:"skipped"`
}

type rule struct {
	key      string
	value    string
	validate func(string) error
	eval     func(*Report, string) (RuleStatus, string)
}

func ratio(key string) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("invalid config value ('%v'): %v", v, err)
		}
		if f < 0 || f > 1 {
			return fmt.Errorf("%s config value is outside allowed range (0-1), given '%s'", key, v)
		}
		return nil
	}
}

func (rs Rules) list() []rule {
	d := DefaultRules()
	pick := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	return []rule{
		{"lowestEfficiency", pick(rs.LowestEfficiency, d.LowestEfficiency), ratio("lowestEfficiency"),
			func(r *Report, v string) (RuleStatus, string) {
				lowest, _ := strconv.ParseFloat(v, 64)
				if lowest > r.Efficiency {
					return RuleFailed, fmt.Sprintf("image efficiency is too low (efficiency=%v < threshold=%v)", r.Efficiency, lowest)
				}
				return RulePassed, ""
			}},
		{"highestWastedBytes", pick(rs.HighestWastedBytes, d.HighestWastedBytes),
			func(v string) error {
				if _, err := humanize.ParseBytes(v); err != nil {
					return fmt.Errorf("invalid config value ('%v'): %v", v, err)
				}
				return nil
			},
			func(r *Report, v string) (RuleStatus, string) {
				highest, _ := humanize.ParseBytes(v)
				if r.WastedBytes > highest {
					return RuleFailed, fmt.Sprintf("too many bytes wasted (wasted-bytes=%v > threshold=%v)", r.WastedBytes, highest)
				}
				return RulePassed, ""
			}},
		{"highestUserWastedPercent", pick(rs.HighestUserWastedPercent, d.HighestUserWastedPercent), ratio("highestUserWastedPercent"),
			func(r *Report, v string) (RuleStatus, string) {
				highest, _ := strconv.ParseFloat(v, 64)
				if highest < r.UserWastedPercent {
					return RuleFailed, fmt.Sprintf("too many bytes wasted, relative to the user bytes added (%%-user-wasted-bytes=%v > threshold=%v)", r.UserWastedPercent, highest)
				}
				return RulePassed, ""
			}},
	}
}

// Evaluate runs the rules over the report as dive's CI evaluator does: a
// misconfigured rule fails the whole run before any rule is evaluated.
func (rs Rules) Evaluate(r *Report) CIResult {
	res := CIResult{Pass: true}
	byKey := map[string]RuleResult{}
	rules := rs.list()
	for _, ru := range rules {
		if ru.value == "disabled" {
			byKey[ru.key] = RuleResult{ru.key, RuleConfigured, "rule disabled"}
			continue
		}
		if err := ru.validate(ru.value); err != nil {
			byKey[ru.key] = RuleResult{ru.key, RuleMisconfigured, err.Error()}
			res.Misconfigured = true
		} else {
			byKey[ru.key] = RuleResult{ru.key, RuleConfigured, "test"}
		}
	}
	if !res.Misconfigured {
		for _, ru := range rules {
			if ru.value == "disabled" {
				byKey[ru.key] = RuleResult{ru.key, RuleDisabled, "rule disabled"}
				continue
			}
			st, msg := ru.eval(r, ru.value)
			byKey[ru.key] = RuleResult{ru.key, st, msg}
		}
	}
	for _, v := range byKey {
		res.Results = append(res.Results, v)
		switch v.Status {
		case RulePassed:
			res.Passed++
		case RuleFailed:
			res.Failed++
		case RuleWarning:
			res.Warned++
		case RuleDisabled:
			res.Skipped++
		}
	}
	sort.Slice(res.Results, func(i, j int) bool { return res.Results[i].Rule < res.Results[j].Rule })
	res.Pass = !res.Misconfigured && res.Failed == 0
	return res
}

// ANSI sequences exactly as dive 0.13.1 prints them (through aurora, always,
// even when stdout is not a terminal).
const (
	ansiBold  = "\x1b[1m"
	ansiReset = "\x1b[0m"
	ansiFail  = "\x1b[1;7;31m"
	ansiBlue  = "\x1b[34m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
)

// Styler colours CI text; NoColor gives plain text.
type Styler struct{ NoColor bool }

func (s Styler) wrap(code, text string) string {
	if s.NoColor {
		return text
	}
	return code + text + ansiReset
}

// Title formats a heading as dive does (bold).
func (s Styler) Title(text string) string { return s.wrap(ansiBold, text) }

func (s Styler) status(st RuleStatus) string {
	switch st {
	case RuleFailed, RuleMisconfigured:
		return s.wrap(ansiFail, st.String())
	case RuleWarning, RuleDisabled:
		return s.wrap(ansiBlue, st.String())
	}
	return st.String()
}

// WriteCISummary prints the three figures dive prints before the rules.
func WriteCISummary(w io.Writer, r *Report) {
	fmt.Fprintf(w, "  efficiency: %2.4f %%\n", r.Efficiency*100)
	fmt.Fprintf(w, "  wastedBytes: %d bytes (%s)\n", r.WastedBytes, humanize.Bytes(r.WastedBytes))
	fmt.Fprintf(w, "  userWastedPercent: %2.4f %%\n", r.UserWastedPercent*100)
}

// WriteCIReport prints the inefficient files and the rule results in dive's
// words and order, ending with the "Result:" line and a blank line.
func WriteCIReport(w io.Writer, r *Report, res CIResult, st Styler) {
	var b strings.Builder
	fmt.Fprintln(&b, st.Title("Inefficient Files:"))
	const row = "%5s  %12s  %-s\n"
	fmt.Fprintf(&b, row, "Count", "Wasted Space", "File Path")
	if res.Misconfigured {
		// dive stops before collecting files when a rule is misconfigured.
		fmt.Fprintln(&b, "None")
	} else if len(r.Inefficiencies) == 0 {
		fmt.Fprintln(&b, "None")
	} else {
		for _, in := range r.Inefficiencies {
			fmt.Fprintf(&b, row, strconv.Itoa(in.Count), humanize.Bytes(uint64(in.Size)), Printable(in.Path))
		}
	}
	fmt.Fprintln(&b, st.Title("Results:"))
	for _, rr := range res.Results {
		if rr.Message != "" {
			fmt.Fprintf(&b, "  %s: %s: %s\n", st.status(rr.Status), rr.Rule, rr.Message)
		} else {
			fmt.Fprintf(&b, "  %s: %s\n", st.status(rr.Status), rr.Rule)
		}
	}
	if res.Misconfigured {
		fmt.Fprintln(&b, st.wrap(ansiRed, "CI Misconfigured"))
	} else {
		status := "PASS"
		if res.Failed > 0 {
			status = "FAIL"
		}
		total := len(res.Results)
		line := fmt.Sprintf("Result:%s [Total:%d] [Passed:%d] [Failed:%d] [Warn:%d] [Skipped:%d]", status, total, res.Passed, res.Failed, res.Warned, res.Skipped)
		if res.Pass {
			fmt.Fprintln(&b, st.wrap(ansiGreen, line))
		} else {
			fmt.Fprintln(&b, st.wrap(ansiRed, line))
		}
	}
	fmt.Fprintln(&b)
	io.WriteString(w, b.String())
}
