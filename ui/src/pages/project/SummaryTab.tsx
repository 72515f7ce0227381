import { useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'
import { formatBytes } from '../../format'
import { useProject } from './context'

const SummaryQuery = graphql(`
  query ProjectSummary($name: String!) {
    project(name: $name) {
      id
      summary {
        storage {
          day
          value
        }
        pulls {
          day
          value
        }
        severities {
          severity
          count
        }
      }
    }
  }
`)

interface Day {
  day: string
  value: number
}

const severityNames: Record<string, string> = {
  CRITICAL: 'Critical',
  HIGH: 'High',
  MEDIUM: 'Medium',
  LOW: 'Low',
  NONE: 'None',
  UNKNOWN: 'Unknown',
  NOT_SCANNED: 'Not scanned',
}

/**
 * SummaryTab shows a project's figures as small SVG charts: storage of its current artifacts by
 * push date, pulls per day, and its images by severity. Each chart has a text summary for screen
 * readers and its numbers in a table beneath.
 */
export function SummaryTab() {
  const { project } = useProject()
  const [result] = useQuery({ query: SummaryQuery, variables: { name: project.name } })
  const summary = result.data?.project?.summary
  return (
    <section aria-labelledby="summary-heading">
      <h2 id="summary-heading">Summary</h2>
      {result.error && <ErrorMessage error={result.error} title="Could not load the summary" />}
      {!summary && result.fetching && <p className="muted">Loading…</p>}
      {summary && (
        <div className="summary-charts">
          <figure className="chart-card">
            <figcaption>
              <h3>Storage by push date</h3>
              <p className="muted">
                Storage of the artifacts there now, by the day their layers were first pushed (last 30 days,
                cumulative). Deleted artifacts are not recorded, so this is not a history of usage.
              </p>
            </figcaption>
            <DayChart
              days={summary.storage}
              kind="line"
              format={formatBytes}
              label={`Storage of current artifacts by push date: ${formatBytes(summary.storage[0]?.value ?? 0)} on ${summary.storage[0]?.day} to ${formatBytes(summary.storage.at(-1)?.value ?? 0)} on ${summary.storage.at(-1)?.day}`}
            />
            <DayTable days={summary.storage} caption="Storage by push date" column="Storage" format={formatBytes} />
          </figure>
          <figure className="chart-card">
            <figcaption>
              <h3>Pulls per day</h3>
              <p className="muted">Pulls over the last 7 days (UTC), as the event log keeps them.</p>
            </figcaption>
            <DayChart
              days={summary.pulls}
              kind="bars"
              format={String}
              label={`Pulls per day over the last ${summary.pulls.length} days: ${summary.pulls.reduce((n, d) => n + d.value, 0)} in all, at most ${Math.max(0, ...summary.pulls.map((d) => d.value))} in a day`}
            />
            <DayTable days={summary.pulls} caption="Pulls per day" column="Pulls" format={String} />
          </figure>
          {summary.severities && (
            <figure className="chart-card">
              <figcaption>
                <h3>Images by severity</h3>
                <p className="muted">The highest severity the latest scan of each image found.</p>
              </figcaption>
              <SeverityChart counts={summary.severities} />
            </figure>
          )}
        </div>
      )}
    </section>
  )
}

const width = 300
const height = 120
const pad = { top: 8, right: 8, bottom: 20, left: 8 }

/** DayChart draws one value per day, as bars or a line, scaled to the largest. */
function DayChart({
  days,
  kind,
  format,
  label,
}: {
  days: Day[]
  kind: 'bars' | 'line'
  format: (n: number) => string
  label: string
}) {
  const max = Math.max(1, ...days.map((d) => d.value))
  const innerW = width - pad.left - pad.right
  const innerH = height - pad.top - pad.bottom
  const step = innerW / Math.max(1, days.length)
  const y = (v: number) => pad.top + innerH - (v / max) * innerH
  const points = days.map((d, i) => `${pad.left + step * (i + 0.5)},${y(d.value)}`).join(' ')
  return (
    <svg className="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <line className="axis" x1={pad.left} x2={width - pad.right} y1={pad.top + innerH} y2={pad.top + innerH} />
      {kind === 'bars' &&
        days.map((d, i) => (
          <rect
            key={d.day}
            className="bar"
            x={pad.left + step * i + step * 0.15}
            width={step * 0.7}
            y={y(d.value)}
            height={pad.top + innerH - y(d.value)}
          >
            <title>{`${d.day}: ${format(d.value)}`}</title>
          </rect>
        ))}
      {kind === 'line' && <polyline className="line" points={points} />}
      <text className="tick" x={pad.left} y={height - 4}>
        {days[0]?.day}
      </text>
      <text className="tick" x={width - pad.right} y={height - 4} textAnchor="end">
        {days.at(-1)?.day}
      </text>
      <text className="tick" x={width - pad.right} y={pad.top + 8} textAnchor="end">
        {format(Math.max(0, ...days.map((d) => d.value)))}
      </text>
    </svg>
  )
}

/** DayTable is a chart's numbers, folded away under a toggle. */
function DayTable({
  days,
  caption,
  column,
  format,
}: {
  days: Day[]
  caption: string
  column: string
  format: (n: number) => string
}) {
  return (
    <details>
      <summary>Show as a table</summary>
      <table>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">{column}</th>
          </tr>
        </thead>
        <tbody>
          {days.map((d) => (
            <tr key={d.day}>
              <td>{d.day}</td>
              <td>{format(d.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  )
}

/** SeverityChart draws a horizontal bar per severity, with its count beside it (text, not only colour). */
function SeverityChart({ counts }: { counts: { severity: string; count: number }[] }) {
  const max = Math.max(1, ...counts.map((c) => c.count))
  const row = 18
  const labelW = 90
  const countW = 40
  const barW = width - labelW - countW
  const total = counts.reduce((n, c) => n + c.count, 0)
  const label = `${total} images: ${counts.map((c) => `${severityNames[c.severity] ?? c.severity} ${c.count}`).join(', ')}`
  return (
    <svg className="chart" viewBox={`0 0 ${width} ${row * counts.length + 4}`} role="img" aria-label={label}>
      {counts.map((c, i) => (
        <g key={c.severity} transform={`translate(0, ${i * row + 2})`}>
          <text className="tick" x={0} y={row - 6}>
            {severityNames[c.severity] ?? c.severity}
          </text>
          <rect
            className={`sev-${c.severity.toLowerCase().replace('_', '-')}`}
            x={labelW}
            y={2}
            height={row - 6}
            width={Math.max(c.count > 0 ? 2 : 0, (c.count / max) * barW)}
          />
          <text className="tick" x={width} y={row - 6} textAnchor="end">
            {c.count}
          </text>
        </g>
      ))}
    </svg>
  )
}
