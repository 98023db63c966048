package output

import (
	"encoding/json"
	"io"
)

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/), the subset
// code-scanning UIs read: one run of one tool, its rules, a result per
// finding. `berth scan` and `berth lint` both write it; optional fields are
// pointers or omitempty so each prints only what it fills.

// SARIFLog is a whole log.
type SARIFLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []SARIFRun `json:"runs"`
}

// SARIFRun is one tool's run.
type SARIFRun struct {
	Tool    SARIFTool     `json:"tool"`
	Results []SARIFResult `json:"results"`
}

type SARIFTool struct {
	Driver SARIFDriver `json:"driver"`
}

type SARIFDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []SARIFRule `json:"rules"`
}

type SARIFText struct {
	Text string `json:"text"`
}

type SARIFRule struct {
	ID               string             `json:"id"`
	ShortDescription SARIFText          `json:"shortDescription"`
	FullDescription  *SARIFText         `json:"fullDescription,omitempty"`
	HelpURI          string             `json:"helpUri"`
	Help             *SARIFText         `json:"help,omitempty"`
	Default          *SARIFRuleDefaults `json:"defaultConfiguration,omitempty"`
	Properties       map[string]any     `json:"properties,omitempty"`
}

// SARIFRuleDefaults is a rule's defaultConfiguration.
type SARIFRuleDefaults struct {
	Level string `json:"level"`
}

type SARIFResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  *int            `json:"ruleIndex,omitempty"` // 0 is a valid index, so a pointer
	Level      string          `json:"level"`               // error, warning or note
	Message    SARIFText       `json:"message"`
	Locations  []SARIFLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type SARIFLocation struct {
	Physical SARIFPhysical `json:"physicalLocation"`
}

type SARIFPhysical struct {
	Artifact SARIFArtifact `json:"artifactLocation"`
	Region   *SARIFRegion  `json:"region,omitempty"`
}

type SARIFArtifact struct {
	URI string `json:"uri"`
}

type SARIFRegion struct {
	StartLine int `json:"startLine"`
	EndLine   int `json:"endLine,omitempty"`
}

// WriteSARIF writes one run as an indented SARIF 2.1.0 log.
func WriteSARIF(w io.Writer, run SARIFRun) error {
	if run.Results == nil {
		run.Results = []SARIFResult{}
	}
	if run.Tool.Driver.Rules == nil {
		run.Tool.Driver.Rules = []SARIFRule{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(SARIFLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []SARIFRun{run}})
}
