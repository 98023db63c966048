// Package output owns what berth prints to a terminal: tables aligned as
// Docker aligns them, --format Go templates with Docker's functions and the
// `table` and `json` directives, Docker's wording for sizes and ages, and
// SARIF 2.1.0 logs (scan and lint findings for code-scanning UIs). It
// knows no domain types: callers hand it rows of named fields.
//
// It is a leaf: standard library only.
package output
