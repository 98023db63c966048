// Package depcheck holds only a test: it pins which internal packages each
// package may import, so the dependency direction of STYLE.md stays true.
package depcheck
