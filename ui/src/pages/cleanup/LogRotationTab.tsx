import { Fragment, useMemo, useState, type FormEvent } from 'react'
import { useMutation, useQuery, useSubscription } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, useLocalPage } from '../../components/Pager'
import { Time } from '../../components/Time'
import { graphql } from '../../gql'
import type { PurgeRunsQuery, PurgeScheduleQuery, ScheduleKind } from '../../gql/graphql'
import { operations } from '../audit/AuditLogTable'
import { RunStatus } from './RunStatus'
import { ScheduleFields } from './ScheduleFields'

const PurgeScheduleDocument = graphql(`
  query PurgeSchedule {
    auditSettings {
      purgeSchedule {
        kind
        cron
        retentionHours
        operations
        dryRun
        nextRunAt
        lastRunAt
      }
    }
  }
`)

// The fields every view of a purge run shows; the documents below spread it.
graphql(`
  fragment PurgeRunFields on PurgeRun {
    id
    status
    trigger
    retentionHours
    operations
    dryRun
    rowsPurged
    log
    operator
    createdAt
    startedAt
    endedAt
  }
`)

const PurgeRunsDocument = graphql(`
  query PurgeRuns($first: Int, $after: Cursor, $last: Int, $before: Cursor) {
    purgeRuns(first: $first, after: $after, last: $last, before: $before) {
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
      edges {
        node {
          ...PurgeRunFields
        }
      }
    }
  }
`)

const PurgeAuditLogsMutation = graphql(`
  mutation PurgeAuditLogs($input: PurgeInput!) {
    purgeAuditLogs(input: $input) {
      ...PurgeRunFields
    }
  }
`)

const StopPurgeMutation = graphql(`
  mutation StopPurge($id: ID!) {
    stopPurge(id: $id) {
      ...PurgeRunFields
    }
  }
`)

const SetPurgeScheduleMutation = graphql(`
  mutation SetPurgeSchedule($input: PurgeScheduleInput!) {
    setPurgeSchedule(input: $input) {
      kind
      cron
      retentionHours
      operations
      dryRun
      nextRunAt
      lastRunAt
    }
  }
`)

const PurgeProgressSubscription = graphql(`
  subscription PurgeProgress($id: ID!) {
    purgeProgress(id: $id) {
      ...PurgeRunFields
    }
  }
`)

/** MAX_RETENTION_HOURS is the longest retention the server accepts (about 27 years). */
const MAX_RETENTION_HOURS = 240000

type Run = NonNullable<NonNullable<NonNullable<PurgeRunsQuery['purgeRuns']['edges']>[number]>['node']>
type Schedule = PurgeScheduleQuery['auditSettings']['purgeSchedule']

/**
 * LogRotationTab purges old audit entries: now (or as a dry run that only counts), on a schedule,
 * and lists past runs with their logs. A running purge updates live.
 */
export function LogRotationTab() {
  const [schedule] = useQuery({ query: PurgeScheduleDocument })
  const page = useLocalPage(10)
  const context = useMemo(() => ({ additionalTypenames: ['PurgeRun'] }), [])
  const [runs, refetchRuns] = useQuery({ query: PurgeRunsDocument, variables: page.variables, context })
  const reload = () => refetchRuns({ requestPolicy: 'network-only' })
  const rows = runs.data?.purgeRuns.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []

  return (
    <>
      <PurgeNow onStarted={reload} />
      {schedule.error && <ErrorMessage error={schedule.error} title="Could not load the schedule" />}
      {schedule.data && <ScheduleForm schedule={schedule.data.auditSettings.purgeSchedule} />}
      <section aria-label="Purge history">
        <h2>History</h2>
        {runs.error && <ErrorMessage error={runs.error} title="Could not load the purge history" />}
        {runs.data && rows.length === 0 && (
          <div className="empty">
            <p>No purge has run yet.</p>
          </div>
        )}
        {rows.length > 0 && (
          <table className="history">
            <caption className="sr-only">Purge runs</caption>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Status</th>
                <th scope="col">Trigger</th>
                <th scope="col">Parameters</th>
                <th scope="col" className="num">
                  Entries
                </th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <RunRow key={r.id} run={r} onChanged={reload} />
              ))}
            </tbody>
          </table>
        )}
        {runs.data && <Pager page={page} pageInfo={runs.data.purgeRuns.pageInfo} label="Purge runs" />}
      </section>
    </>
  )
}

/** OperationChoices picks the operations whose entries a purge removes. */
function OperationChoices({ id, chosen, onChange }: { id: string; chosen: string[]; onChange: (ops: string[]) => void }) {
  return (
    <fieldset className="field" id={id}>
      <legend>Operations</legend>
      {operations.map((op) => (
        <label key={op} className="check">
          <input
            type="checkbox"
            checked={chosen.includes(op)}
            onChange={(e) => onChange(e.target.checked ? [...chosen, op] : chosen.filter((o) => o !== op))}
          />
          {op}
        </label>
      ))}
    </fieldset>
  )
}

/** RetentionField is the age past which entries are purged, in hours, with what is wrong with it. */
function RetentionField({ id, value, error, onChange }: { id: string; value: string; error: string | null; onChange: (v: string) => void }) {
  return (
    <div className="field">
      <label htmlFor={id}>Keep entries of the last (hours)</label>
      <input
        id={id}
        type="number"
        min={1}
        max={MAX_RETENTION_HOURS}
        value={value}
        aria-invalid={!!error}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => onChange(e.target.value)}
      />
      {error && (
        <p className="error-text" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  )
}

/** retentionError says what is wrong with a typed retention, or null if the server will take it. */
function retentionError(value: string): string | null {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > MAX_RETENTION_HOURS) return `Retention must be a whole number of hours from 1 to ${MAX_RETENTION_HOURS}.`
  return null
}

function PurgeNow({ onStarted }: { onStarted: () => void }) {
  const [retention, setRetention] = useState('720')
  const [ops, setOps] = useState<string[]>(['create', 'delete', 'update', 'pull', 'login'])
  const [{ fetching, error }, purge] = useMutation(PurgeAuditLogsMutation)
  const [notice, setNotice] = useState<string | null>(null)
  const [showError, setShowError] = useState(false)
  const invalid = retentionError(retention)

  const start = async (dryRun: boolean) => {
    setNotice(null)
    setShowError(true)
    const result = await purge({ input: { retentionHours: Number(retention), operations: ops, dryRun } })
    if (result.error || !result.data) return result.error
    setShowError(false)
    setNotice(dryRun ? 'Dry run started: its count appears in the history below.' : 'Purge started.')
    onStarted()
    return null
  }

  return (
    <form className="panel settings" aria-label="Purge now" onSubmit={(e) => e.preventDefault()}>
      <h2>Purge now</h2>
      <RetentionField id="purge-retention" value={retention} error={invalid} onChange={setRetention} />
      <OperationChoices id="purge-operations" chosen={ops} onChange={setOps} />
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {showError && error && <ErrorMessage error={error} title="Could not start the purge" />}
      <div className="button-row">
        <button type="button" disabled={fetching || !!invalid} onClick={() => void start(true)}>
          Dry run
        </button>
        <ConfirmButton
          title="Purge the audit log now?"
          message={
            <p>
              Entries older than {retention} hours with the operations {ops.join(', ') || '(none)'} are deleted for good.
              A dry run counts them first.
            </p>
          }
          confirmLabel="Purge now"
          disabled={fetching || !!invalid}
          onConfirm={() => start(false)}
        >
          Purge now
        </ConfirmButton>
      </div>
    </form>
  )
}

function ScheduleForm({ schedule }: { schedule: Schedule }) {
  const [kind, setKind] = useState<ScheduleKind>(schedule.kind)
  const [cron, setCron] = useState(schedule.cron)
  const [retention, setRetention] = useState(String(schedule.retentionHours))
  const [ops, setOps] = useState<string[]>(schedule.operations)
  const [dryRun, setDryRun] = useState(schedule.dryRun)
  const [{ fetching, error, data }, save] = useMutation(SetPurgeScheduleMutation)
  const [saved, setSaved] = useState(false)
  const [showError, setShowError] = useState(false)
  const invalid = kind === 'NONE' ? null : retentionError(retention)
  const current = data?.setPurgeSchedule ?? schedule

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setSaved(false)
    setShowError(true)
    const result = await save({
      input: { kind, cron: kind === 'CUSTOM' ? cron : undefined, retentionHours: Number(retention), operations: ops, dryRun },
    })
    if (result.error) return
    setShowError(false)
    setSaved(true)
  }

  return (
    <form className="panel settings" aria-label="Purge schedule" onSubmit={onSubmit}>
      <h2>Schedule</h2>
      <ScheduleFields id="purge-schedule" kind={kind} cron={cron} onKind={setKind} onCron={setCron} />
      {kind !== 'NONE' && (
        <>
          <RetentionField id="schedule-retention" value={retention} error={invalid} onChange={setRetention} />
          <OperationChoices id="schedule-operations" chosen={ops} onChange={setOps} />
          <label className="check">
            <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} />
            Dry run only (count, delete nothing)
          </label>
        </>
      )}
      <p className="muted">
        {current.kind === 'NONE' ? (
          'Purges run only when started by hand.'
        ) : (
          <>
            Next run: <Time value={current.nextRunAt} />. Last run: <Time value={current.lastRunAt} />.
          </>
        )}
      </p>
      {saved && (
        <p className="notice" role="status">
          Schedule saved.
        </p>
      )}
      {showError && error && <ErrorMessage error={error} title="Could not save the schedule" />}
      <div className="actions">
        <button type="submit" className="primary" disabled={fetching || !!invalid}>
          Save schedule
        </button>
      </div>
    </form>
  )
}

function RunRow({ run: initial, onChanged }: { run: Run; onChanged: () => void }) {
  const active = initial.status === 'PENDING' || initial.status === 'RUNNING'
  const [live] = useSubscription({ query: PurgeProgressSubscription, variables: { id: initial.id }, pause: !active })
  const run = live.data?.purgeProgress ?? initial
  const [open, setOpen] = useState(false)
  const [, stop] = useMutation(StopPurgeMutation)
  const running = run.status === 'PENDING' || run.status === 'RUNNING'

  return (
    <Fragment>
      <tr>
        <td>
          <Time value={run.startedAt ?? run.createdAt} />
        </td>
        <td>
          <RunStatus status={run.status} />
          {run.dryRun && <span className="badge">dry run</span>}
        </td>
        <td>{run.trigger === 'SCHEDULE' ? 'Schedule' : `By ${run.operator}`}</td>
        <td>
          older than {run.retentionHours} h; {run.operations.join(', ') || 'no operations'}
        </td>
        <td className="num">
          {run.rowsPurged.toLocaleString()}
          {run.dryRun ? ' would go' : ' purged'}
        </td>
        <td className="row-actions">
          <div className="button-row">
            <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
              {open ? 'Hide log' : 'Log'}
              <span className="sr-only"> of purge {run.id}</span>
            </button>
            {running && (
              <ConfirmButton
                label={`Stop purge ${run.id}`}
                title="Stop this purge?"
                message={<p>It stops after its current batch; what it purged so far stays purged.</p>}
                confirmLabel="Stop purge"
                onConfirm={async () => {
                  const res = await stop({ id: run.id })
                  if (res.error) return res.error
                  onChanged()
                  return null
                }}
              >
                Stop
              </ConfirmButton>
            )}
          </div>
        </td>
      </tr>
      {open && (
        <tr className="details">
          <td colSpan={6}>
            <pre className="excerpt">{run.log || 'Nothing logged yet.'}</pre>
          </td>
        </tr>
      )}
    </Fragment>
  )
}
