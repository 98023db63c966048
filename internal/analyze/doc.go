// Package analyze turns an image's layers into plain data: one file tree per
// layer read straight from the streamed layer tar by a lean reader of the
// ustar, PAX and GNU formats (never extracted, never held whole in memory,
// hostile entries kept as data with warnings), the stacked tree with
// whiteouts and opaque directories applied (OCI image spec, layer
// changesets), the files that waste space and the layers involved,
// dive-compatible efficiency figures, hints in plain words, and the CI rules
// of dive's `.dive-ci` (read by ReadCIConfig/ParseCIConfig) evaluated over
// that data.
//
// Numbers follow dive 0.13.1 (dive/filetree/efficiency.go and
// dive/image/image.go) so that reports from both tools are comparable:
// efficiency is the sum over every path of its smallest size seen divided by
// the sum of all its sizes, wasted bytes are the cumulative sizes of paths seen
// in more than one layer, and the user-wasted percent divides that by the
// bytes of every layer above the first.
//
// It owns no terminal code (see package tui) and must not import internal/cli,
// internal/store or internal/remote: callers hand it a v1.Image.
package analyze
