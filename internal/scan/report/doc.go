// Package report renders a scan (inventory plus filtered findings) as a
// table, berth's JSON, SARIF 2.1.0, CycloneDX 1.6 JSON, SPDX 2.3 JSON or
// Docker Scout's package list. Every format renders exactly the same
// findings — the Result the policy produced — in the same order.
//
// It must not import internal/cli; it knows scan's plain data only.
package report
