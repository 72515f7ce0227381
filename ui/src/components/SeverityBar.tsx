/** severityOrder lists the severities most severe first, with how people read them. */
export const severityOrder = [
  { key: 'critical', name: 'CRITICAL', label: 'Critical' },
  { key: 'high', name: 'HIGH', label: 'High' },
  { key: 'medium', name: 'MEDIUM', label: 'Medium' },
  { key: 'low', name: 'LOW', label: 'Low' },
  { key: 'unknown', name: 'UNKNOWN', label: 'Unknown' },
] as const

/** Summary is the count of vulnerabilities per severity. */
export type Summary = Record<(typeof severityOrder)[number]['key'], number>

/**
 * SeverityBar draws an artifact's vulnerabilities as one bar split by severity, with the counts
 * as its accessible name (and a tooltip), so a list of artifacts can be compared at a glance.
 */
export function SeverityBar({ summary, total }: { summary: Summary; total: number }) {
  const text = severityOrder
    .filter((s) => summary[s.key] > 0)
    .map((s) => `${summary[s.key]} ${s.label.toLowerCase()}`)
    .join(', ')
  if (total === 0) return <span className="badge public">No vulnerabilities</span>
  return (
    <span className="severity-bar" role="img" aria-label={`${total} vulnerabilities: ${text}`} title={text}>
      {severityOrder.map((s) =>
        summary[s.key] > 0 ? (
          <span key={s.key} className={`sev-${s.key}`} style={{ flexGrow: summary[s.key] }}>
            {summary[s.key]}
          </span>
        ) : null,
      )}
    </span>
  )
}
