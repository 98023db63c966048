// Package tui is berth dive's interactive view, a Bubble Tea v2 program: the
// layer list and the file tree side by side, per-layer or aggregated
// changes coloured as added, modified and removed, a path filter, collapsed
// directories and hidden change kinds, with dive's key bindings. The
// terminal is taken at once and shows how many layers have been read until
// the analysis is ready. It also writes the plain-text summary shown when
// there is no terminal.
//
// It renders analyze's data and computes nothing about the image itself.
// Only the visible rows are drawn, and the flattened row list is rebuilt only
// when what is visible changes, so it stays responsive at 100,000 files.
//
// It must not import internal/cli, internal/store or any image source.
package tui
