import { useEffect, useMemo, useState, type FormEvent } from 'react'
import { useSearchParams } from 'react-router'
import { useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, usePage } from '../../components/Pager'
import { Time } from '../../components/Time'
import { graphql } from '../../gql'
import type { AuditLogOrderField, AuditLogWhereInput, OrderDirection } from '../../gql/graphql'

const AuditLogsQuery = graphql(`
  query AuditLogs(
    $projectID: ID
    $resourceGlob: String
    $first: Int
    $after: Cursor
    $last: Int
    $before: Cursor
    $where: AuditLogWhereInput
    $orderBy: AuditLogOrder
  ) {
    auditLogs(
      projectID: $projectID
      resourceGlob: $resourceGlob
      first: $first
      after: $after
      last: $last
      before: $before
      where: $where
      orderBy: $orderBy
    ) {
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
          occurredAt
          username
          projectName
          operation
          resourceType
          resource
          sourceIP
          result
        }
      }
    }
  }
`)

/** operations are the audit log's operation names, as the server records them. */
export const operations = ['create', 'delete', 'update', 'pull', 'login']

/** resourceTypes are the kinds of resource the log records. */
const resourceTypes = ['artifact', 'tag', 'repository', 'project', 'user', 'member', 'robot', 'api-token', 'webhook', 'configuration', 'session']

/** The filters live in the address, so a filtered view can be reloaded and shared. */
const filterKeys = ['user', 'operation', 'type', 'resource', 'from', 'to', 'sort'] as const
type Filters = Record<(typeof filterKeys)[number], string>

const sortOptions: { value: string; label: string; field: AuditLogOrderField; direction: OrderDirection }[] = [
  { value: 'newest', label: 'Newest first', field: 'OCCURRED_AT', direction: 'DESC' },
  { value: 'oldest', label: 'Oldest first', field: 'OCCURRED_AT', direction: 'ASC' },
  { value: 'user', label: 'User', field: 'USERNAME', direction: 'ASC' },
  { value: 'operation', label: 'Operation', field: 'OPERATION', direction: 'ASC' },
  { value: 'type', label: 'Resource type', field: 'RESOURCE_TYPE', direction: 'ASC' },
]

/** localToISO turns a datetime-local input's value (the viewer's time zone) into an RFC 3339 time. */
function localToISO(value: string): string | undefined {
  if (!value) return undefined
  const t = new Date(value)
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString()
}

/**
 * AuditLogTable is the audit log with its filters (user, operation, resource type, resource glob,
 * time range), sort order and pages: every entry for a system admin, or one project's entries when
 * projectID is given.
 */
export function AuditLogTable({ projectID, showProject }: { projectID?: string; showProject: boolean }) {
  const [params, setParams] = useSearchParams()
  const filters = Object.fromEntries(filterKeys.map((k) => [k, params.get(k) ?? ''])) as Filters
  const [draft, setDraft] = useState<Filters>(filters)
  const page = usePage()

  // Back and Forward change the address: the form follows it.
  const key = params.toString()
  useEffect(() => {
    setDraft(Object.fromEntries(filterKeys.map((k) => [k, params.get(k) ?? ''])) as Filters)
  }, [key])

  const apply = (e: FormEvent) => {
    e.preventDefault()
    // A new filter starts at the first page.
    const p = new URLSearchParams()
    for (const k of filterKeys) if (draft[k].trim()) p.set(k, draft[k].trim())
    setParams(p)
  }
  const clear = () => setParams(new URLSearchParams())

  const where = useMemo(() => {
    const w: AuditLogWhereInput = {}
    if (filters.user) w.usernameContains = filters.user
    if (filters.operation) w.operation = filters.operation
    if (filters.type) w.resourceType = filters.type
    const from = localToISO(filters.from)
    const to = localToISO(filters.to)
    if (from) w.occurredAtGTE = from
    if (to) w.occurredAtLTE = to
    return w
  }, [key])
  const sort = sortOptions.find((s) => s.value === filters.sort) ?? sortOptions[0]

  const [result, refetch] = useQuery({
    query: AuditLogsQuery,
    variables: {
      ...page.variables,
      projectID,
      resourceGlob: filters.resource || undefined,
      where,
      orderBy: { field: sort.field, direction: sort.direction },
    },
  })
  const logs = result.data?.auditLogs
  const rows = logs?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []
  const filtered = filterKeys.some((k) => k !== 'sort' && filters[k])
  const set = (k: keyof Filters, v: string) => setDraft({ ...draft, [k]: v })

  return (
    <>
      <form className="toolbar audit-filters" role="search" aria-label="Filter the audit log" onSubmit={apply}>
        <div className="field">
          <label htmlFor="audit-user">User</label>
          <input id="audit-user" value={draft.user} placeholder="contains…" onChange={(e) => set('user', e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="audit-operation">Operation</label>
          <select id="audit-operation" value={draft.operation} onChange={(e) => set('operation', e.target.value)}>
            <option value="">Any</option>
            {operations.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="audit-type">Resource type</label>
          <select id="audit-type" value={draft.type} onChange={(e) => set('type', e.target.value)}>
            <option value="">Any</option>
            {resourceTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="audit-resource">Resource</label>
          <input
            id="audit-resource"
            value={draft.resource}
            placeholder="library/app:*"
            title="A glob: * and ? match any characters, {a,b} either"
            onChange={(e) => set('resource', e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="audit-from">From</label>
          <input id="audit-from" type="datetime-local" value={draft.from} onChange={(e) => set('from', e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="audit-to">To</label>
          <input id="audit-to" type="datetime-local" value={draft.to} onChange={(e) => set('to', e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="audit-sort">Sort</label>
          <select id="audit-sort" value={draft.sort || 'newest'} onChange={(e) => set('sort', e.target.value)}>
            {sortOptions.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </div>
        <div className="button-row">
          <button type="submit" className="primary">
            Apply filters
          </button>
          {filtered && (
            <button type="button" onClick={clear}>
              Clear
            </button>
          )}
          <button type="button" onClick={() => refetch({ requestPolicy: 'network-only' })}>
            Refresh
          </button>
        </div>
      </form>
      {logs && (
        <p className="muted count">
          {logs.totalCount} {logs.totalCount === 1 ? 'entry' : 'entries'}
          {filtered && ' match'}
        </p>
      )}
      {result.error && <ErrorMessage error={result.error} title="Could not load the audit log" />}
      {!logs && result.fetching && <p className="muted">Loading the audit log…</p>}
      {logs && rows.length === 0 && (
        <div className="empty">
          <p>{filtered ? 'No entry matches these filters.' : 'Nothing has been recorded yet.'}</p>
        </div>
      )}
      {rows.length > 0 && (
        <table className="audit-log">
          <caption className="sr-only">Audit log</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">User</th>
              {showProject && <th scope="col">Project</th>}
              <th scope="col">Operation</th>
              <th scope="col">Resource type</th>
              <th scope="col">Resource</th>
              <th scope="col">Source IP</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id}>
                <td>
                  <Time value={r.occurredAt} compact />
                </td>
                <td>{r.username}</td>
                {showProject && <td>{r.projectName || <span className="muted">–</span>}</td>}
                <td>{r.operation}</td>
                <td>{r.resourceType}</td>
                <td className="digest">{r.resource}</td>
                <td>{r.sourceIP || <span className="muted">–</span>}</td>
                <td>
                  {r.result === 'SUCCESS' ? 'Success' : <span className="badge status-failed">Failure</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {logs && <Pager page={page} pageInfo={logs.pageInfo} label="Audit log" />}
    </>
  )
}
