// Package export runs CVE exports (Harbor 2.6's "export CVEs"): it turns an export's filters into
// one SQL query, streams the rows as CSV into the registry's storage from a River job, records
// each execution's progress and result, and serves the file once to its owner. It reads scan
// results; it never writes them.
package export
