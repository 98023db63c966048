// Package depcheck holds only a test: one table (depcheck_test.go) with a
// row per package of the module — cmd/, bench/ and every subpackage
// included — listing exactly the module packages it imports, and for the
// leaves exactly their third-party imports too. The test reads the real
// graph from `go list` and fails on an edge the table does not allow and on
// an allowed edge the code does not use, so the table is the graph; it also
// fails when production code imports a test helper (testenv, any *test
// package) or a row's forbidden package is reached. STYLE.md's direction is
// kept by the rows' contents: review a new edge against it before adding it.
package depcheck
