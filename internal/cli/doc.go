// Package cli is berth's command tree: one file per verb, the flags, the
// configuration and the wiring of concrete implementations. It is the only
// package that may import every other internal package, and the only one that
// maps errors to messages, hints and exit codes (see errors.go).
package cli
