import { useEffect, useMemo, useState, type FormEvent } from 'react'
import { useMutation, useQuery, useSubscription } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, useLocalPage } from '../../components/Pager'
import { SeverityBar, severityOrder } from '../../components/SeverityBar'
import { Time } from '../../components/Time'
import { graphql } from '../../gql'
import type { VulnerabilityFilter, VulnerabilityOrderField, VulnerabilitySeverity } from '../../gql/graphql'

const VulnerabilitiesQuery = graphql(`
  query ArtifactVulnerabilities(
    $repository: String!
    $reference: String!
    $first: Int
    $after: Cursor
    $last: Int
    $before: Cursor
    $filter: VulnerabilityFilter
    $orderBy: VulnerabilityOrder
  ) {
    artifact(repository: $repository, reference: $reference) {
      id
      scanOverview {
        status
        severity
        total
        fixable
        startedAt
        finishedAt
        scanner {
          id
          name
        }
        summary {
          critical
          high
          medium
          low
          none
          unknown
        }
        reports {
          id
          status
          progress
          log
        }
      }
      vulnerabilities(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
        totalCount
        pageInfo {
          hasNextPage
          hasPreviousPage
          startCursor
          endCursor
        }
        edges {
          node {
            id
            cveID
            package
            packageVersion
            fixedVersion
            severity
            cvssScoreV3
            description
            links
          }
        }
      }
    }
  }
`)

const ScanArtifactMutation = graphql(`
  mutation ScanArtifact($id: ID!) {
    scanArtifact(id: $id) {
      id
      status
    }
  }
`)

const StopScanMutation = graphql(`
  mutation StopScan($id: ID!) {
    stopScan(id: $id)
  }
`)

const ScanProgressSubscription = graphql(`
  subscription ScanProgress($id: ID!) {
    scanProgress(id: $id) {
      id
      status
      progress
    }
  }
`)

const sorts: { value: string; label: string; field: VulnerabilityOrderField; direction: 'ASC' | 'DESC' }[] = [
  { value: 'severity', label: 'Severity, highest first', field: 'SEVERITY', direction: 'DESC' },
  { value: 'cve', label: 'CVE id', field: 'CVE_ID', direction: 'ASC' },
  { value: 'package', label: 'Package', field: 'PACKAGE', direction: 'ASC' },
]

/**
 * Vulnerabilities is an artifact's scan: its state (live while it runs), a chart of what it found
 * by severity, and the findings, filtered, sorted and a page at a time on the server.
 */
export function Vulnerabilities({ repository, artifactID, digest, canScan }: { repository: string; artifactID: string; digest: string; canScan: boolean }) {
  const page = useLocalPage()
  const [severities, setSeverities] = useState<VulnerabilitySeverity[]>([])
  const [pkg, setPkg] = useState('')
  const [cve, setCve] = useState('')
  const [fixable, setFixable] = useState('')
  const [sort, setSort] = useState('severity')
  const [applied, setApplied] = useState<VulnerabilityFilter>({})
  const order = sorts.find((s) => s.value === sort) ?? sorts[0]
  const context = useMemo(() => ({ additionalTypenames: ['ScanReport'] }), [])
  const [result, refetch] = useQuery({
    query: VulnerabilitiesQuery,
    variables: { repository, reference: digest, ...page.variables, filter: applied, orderBy: { field: order.field, direction: order.direction } },
    context,
  })
  const [scan, startScan] = useMutation(ScanArtifactMutation)
  const [stopping, stopScan] = useMutation(StopScanMutation)
  const overview = result.data?.artifact?.scanOverview
  const vulns = result.data?.artifact?.vulnerabilities
  const rows = vulns?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []
  const running = overview?.status === 'PENDING' || overview?.status === 'RUNNING'
  const active = overview?.reports.filter((r) => r.status === 'PENDING' || r.status === 'RUNNING') ?? []
  const reload = () => refetch({ requestPolicy: 'network-only' })

  const apply = (e: FormEvent) => {
    e.preventDefault()
    setApplied({
      severities: severities.length ? severities : undefined,
      package: pkg.trim() || undefined,
      cveID: cve.trim() || undefined,
      fixable: fixable === '' ? undefined : fixable === 'yes',
    })
  }

  return (
    <section aria-labelledby="vulnerabilities-title">
      <div className="section-head">
        <h2 id="vulnerabilities-title">Vulnerabilities</h2>
        {canScan && (
          <div className="button-row">
            <button
              type="button"
              className="primary"
              disabled={scan.fetching || running}
              onClick={async () => {
                const r = await startScan({ id: artifactID })
                if (!r.error) reload()
              }}
            >
              {overview ? 'Scan again' : 'Scan'}
            </button>
            {running && (
              <button
                type="button"
                disabled={stopping.fetching}
                onClick={async () => {
                  const r = await stopScan({ id: artifactID })
                  if (!r.error) reload()
                }}
              >
                Stop scan
              </button>
            )}
          </div>
        )}
      </div>
      {scan.error && <ErrorMessage error={scan.error} title="Could not start the scan" />}
      {stopping.error && <ErrorMessage error={stopping.error} title="Could not stop the scan" />}
      {result.error && <ErrorMessage error={result.error} title="Could not load the vulnerabilities" />}
      {active.map((r) => (
        <ReportProgress key={r.id} id={r.id} onEnd={reload} />
      ))}
      {result.data && !overview && <p className="muted">Not scanned yet.{canScan ? ' Scan it to see its vulnerabilities.' : ''}</p>}
      {overview && (
        <>
          <dl className="facts">
            <div>
              <dt>Scan</dt>
              <dd>
                <span className={`badge ${overview.status === 'ERROR' ? 'status-failed' : ''}`}>{overview.status.toLowerCase()}</span>
              </dd>
            </div>
            <div>
              <dt>Scanner</dt>
              <dd>{overview.scanner.name}</dd>
            </div>
            <div>
              <dt>Finished</dt>
              <dd>
                <Time value={overview.finishedAt} />
              </dd>
            </div>
            <div>
              <dt>Found</dt>
              <dd>
                {overview.total} ({overview.fixable} fixable)
              </dd>
            </div>
          </dl>
          {overview.reports
            .filter((r) => r.status === 'ERROR' && r.log)
            .map((r) => (
              <p key={r.id} className="error-text">
                {r.log}
              </p>
            ))}
          {overview.status === 'SUCCESS' && (
            <>
              <SeverityBar summary={overview.summary} total={overview.total} />
              <SeverityChart summary={overview.summary} />
            </>
          )}
        </>
      )}
      {overview && overview.total > 0 && (
        <>
          <form className="vuln-filters" aria-label="Filter vulnerabilities" onSubmit={apply}>
            <fieldset>
              <legend>Severity</legend>
              {severityOrder.map((s) => (
                <label key={s.name} className="check">
                  <input
                    type="checkbox"
                    checked={severities.includes(s.name)}
                    onChange={(e) => setSeverities(e.target.checked ? [...severities, s.name] : severities.filter((x) => x !== s.name))}
                  />
                  {s.label}
                </label>
              ))}
            </fieldset>
            <div className="field">
              <label htmlFor="vuln-package">Package</label>
              <input id="vuln-package" value={pkg} onChange={(e) => setPkg(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="vuln-cve">CVE id starts with</label>
              <input id="vuln-cve" value={cve} placeholder="CVE-2024-" onChange={(e) => setCve(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="vuln-fixable">Fix</label>
              <select id="vuln-fixable" value={fixable} onChange={(e) => setFixable(e.target.value)}>
                <option value="">Any</option>
                <option value="yes">Fixable</option>
                <option value="no">No fix yet</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="vuln-sort">Sort</label>
              <select id="vuln-sort" value={sort} onChange={(e) => setSort(e.target.value)}>
                {sorts.map((s) => (
                  <option key={s.value} value={s.value}>
                    {s.label}
                  </option>
                ))}
              </select>
            </div>
            <button type="submit">Apply</button>
          </form>
          {vulns && <p className="muted count">{vulns.totalCount} shown by these filters</p>}
          {rows.length > 0 && (
            <table>
              <caption className="sr-only">Vulnerabilities</caption>
              <thead>
                <tr>
                  <th scope="col">CVE</th>
                  <th scope="col">Severity</th>
                  <th scope="col">Package</th>
                  <th scope="col">Installed</th>
                  <th scope="col">Fixed in</th>
                  <th scope="col" className="num">
                    CVSS 3
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((v) => (
                  <tr key={v.id}>
                    <td>
                      {v.links?.[0] ? (
                        <a href={v.links[0]} target="_blank" rel="noreferrer" title={v.description}>
                          {v.cveID}
                        </a>
                      ) : (
                        <span title={v.description}>{v.cveID}</span>
                      )}
                      {v.description && <CveDescription text={v.description} />}
                    </td>
                    <td>
                      <span className={`badge sev-${v.severity.toLowerCase()}`}>{v.severity.toLowerCase()}</span>
                    </td>
                    <td>{v.package}</td>
                    <td>
                      <code>{v.packageVersion}</code>
                    </td>
                    <td>{v.fixedVersion ? <code>{v.fixedVersion}</code> : <span className="muted">no fix yet</span>}</td>
                    <td className="num">{v.cvssScoreV3 ?? '–'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {vulns && rows.length === 0 && <p className="muted">No vulnerability matches these filters.</p>}
          {vulns && <Pager page={page} pageInfo={vulns.pageInfo} label="Vulnerabilities" />}
        </>
      )}
    </section>
  )
}

/** ReportProgress follows one running scan report and reloads the section when it ends. */
function ReportProgress({ id, onEnd }: { id: string; onEnd: () => void }) {
  const [live] = useSubscription({ query: ScanProgressSubscription, variables: { id } })
  const report = live.data?.scanProgress
  const ended = report && report.status !== 'PENDING' && report.status !== 'RUNNING'
  useEffect(() => {
    if (ended) onEnd()
    // onEnd is a fresh function each render; the end is what matters.
  }, [ended])
  return (
    <p className="muted" role="status">
      Scanning… <progress max={100} value={report?.progress ?? 0} aria-label="Scan progress" /> {report?.progress ?? 0}%
    </p>
  )
}

/** SeverityChart is a bar per severity, its length the share of the findings. */
function SeverityChart({ summary }: { summary: Record<string, number> }) {
  const max = Math.max(1, ...severityOrder.map((s) => summary[s.key] ?? 0))
  return (
    <div className="severity-chart" role="table" aria-label="Vulnerabilities by severity">
      {severityOrder.map((s) => (
        <div key={s.key} role="row" style={{ display: 'contents' }}>
          <span role="rowheader">{s.label}</span>
          <span role="cell" aria-hidden="true">
            <span className={`bar sev-${s.key}`} style={{ display: 'block', width: `${((summary[s.key] ?? 0) * 100) / max}%`, minWidth: summary[s.key] ? '0.3rem' : 0 }} />
          </span>
          <span role="cell" className="num">
            {summary[s.key] ?? 0}
          </span>
        </div>
      ))}
    </div>
  )
}

/** CveDescription shows the start of a CVE's description under its id, the rest on demand. */
function CveDescription({ text }: { text: string }) {
  const [open, setOpen] = useState(false)
  const short = text.length > 140 && !open
  return (
    <p className="cve-description">
      {short ? `${text.slice(0, 140).trimEnd()}…` : text}
      {text.length > 140 && (
        <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'less' : 'more'}
        </button>
      )}
    </p>
  )
}
