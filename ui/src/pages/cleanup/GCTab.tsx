import { Fragment, useMemo, useState, type FormEvent } from 'react'
import { useMutation, useQuery, useSubscription } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, useLocalPage } from '../../components/Pager'
import { Time } from '../../components/Time'
import { formatBytes } from '../../format'
import { graphql } from '../../gql'
import type { GcRunsQuery, GcScheduleQuery, ScheduleKind } from '../../gql/graphql'
import { RunStatus } from './RunStatus'
import { ScheduleFields } from './ScheduleFields'

// The fields every view of a GC run shows; the documents below spread it.
graphql(`
  fragment GCRunFields on GCRun {
    id
    kind
    status
    trigger
    dryRun
    deleteUntagged
    removeOrphans
    workers
    artifactsDeleted
    manifestsDeleted
    blobsMarked
    blobsDeleted
    bytesFreed
    orphans
    orphanBytes
    uploadsPurged
    failures
    log
    operator
    createdAt
    startedAt
    endedAt
  }
`)

const GCScheduleDocument = graphql(`
  query GCSchedule {
    gcSchedule {
      kind
      cron
      deleteUntagged
      dryRun
      workers
      removeOrphans
      nextRunAt
      lastRunAt
    }
  }
`)

const GCRunsDocument = graphql(`
  query GCRuns($first: Int, $after: Cursor, $last: Int, $before: Cursor) {
    gcRuns(first: $first, after: $after, last: $last, before: $before) {
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
      edges {
        node {
          ...GCRunFields
        }
      }
    }
  }
`)

const StartGCMutation = graphql(`
  mutation StartGC($input: GCInput!) {
    startGC(input: $input) {
      ...GCRunFields
    }
  }
`)

const PurgeUploadsMutation = graphql(`
  mutation PurgeUploads($dryRun: Boolean) {
    purgeUploads(dryRun: $dryRun) {
      ...GCRunFields
    }
  }
`)

const StopGCMutation = graphql(`
  mutation StopGC($id: ID!) {
    stopGC(id: $id) {
      ...GCRunFields
    }
  }
`)

const SetGCScheduleMutation = graphql(`
  mutation SetGCSchedule($input: GCScheduleInput!) {
    setGCSchedule(input: $input) {
      kind
      cron
      deleteUntagged
      dryRun
      workers
      removeOrphans
      nextRunAt
      lastRunAt
    }
  }
`)

const GCProgressSubscription = graphql(`
  subscription GCProgress($id: ID!) {
    gcProgress(id: $id) {
      ...GCRunFields
    }
  }
`)

type Run = NonNullable<NonNullable<NonNullable<GcRunsQuery['gcRuns']['edges']>[number]>['node']>
type Schedule = GcScheduleQuery['gcSchedule']

/** GCOptions are the choices a collection runs with, now or on its schedule. */
interface GCOptions {
  deleteUntagged: boolean
  workers: number
  removeOrphans: boolean
}

function OptionFields({ id, value, onChange }: { id: string; value: GCOptions; onChange: (v: GCOptions) => void }) {
  return (
    <>
      <label className="check">
        <input type="checkbox" checked={value.deleteUntagged} onChange={(e) => onChange({ ...value, deleteUntagged: e.target.checked })} />
        Delete untagged artifacts first
      </label>
      <label className="check">
        <input type="checkbox" checked={value.removeOrphans} onChange={(e) => onChange({ ...value, removeOrphans: e.target.checked })} />
        Remove blobs that storage holds but the registry never knew (orphans)
      </label>
      <div className="field">
        <label htmlFor={`${id}-workers`}>Workers</label>
        <select id={`${id}-workers`} value={value.workers} onChange={(e) => onChange({ ...value, workers: Number(e.target.value) })}>
          {Array.from({ length: 10 }, (_, i) => i + 1).map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
        <p className="help">How many blobs are deleted at once. More finishes sooner on object storage.</p>
      </div>
    </>
  )
}

/**
 * GCTab is Clean Up → Garbage Collection: run now (or as a dry run), the schedule, upload purging
 * and the history of runs, running ones followed live with a progress bar.
 */
export function GCTab() {
  const [schedule] = useQuery({ query: GCScheduleDocument })
  const page = useLocalPage(10)
  const context = useMemo(() => ({ additionalTypenames: ['GCRun'] }), [])
  const [runs, refetchRuns] = useQuery({ query: GCRunsDocument, variables: page.variables, context })
  const reload = () => refetchRuns({ requestPolicy: 'network-only' })
  const rows = runs.data?.gcRuns.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []

  return (
    <>
      <RunNow onStarted={reload} />
      {schedule.error && <ErrorMessage error={schedule.error} title="Could not load the schedule" />}
      {schedule.data && <ScheduleForm schedule={schedule.data.gcSchedule} />}
      <section aria-label="Garbage collection history">
        <h2>History</h2>
        {runs.error && <ErrorMessage error={runs.error} title="Could not load the history" />}
        {runs.data && rows.length === 0 && (
          <div className="empty">
            <p>No garbage collection or upload purge has run yet.</p>
          </div>
        )}
        {rows.length > 0 && (
          <table className="history">
            <caption className="sr-only">Garbage collection runs</caption>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">What</th>
                <th scope="col">Status</th>
                <th scope="col">Result</th>
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
        {runs.data && <Pager page={page} pageInfo={runs.data.gcRuns.pageInfo} label="Garbage collection runs" />}
      </section>
    </>
  )
}

function RunNow({ onStarted }: { onStarted: () => void }) {
  const [options, setOptions] = useState<GCOptions>({ deleteUntagged: false, workers: 1, removeOrphans: false })
  const [gc, startGC] = useMutation(StartGCMutation)
  const [uploads, purgeUploads] = useMutation(PurgeUploadsMutation)
  const [notice, setNotice] = useState<string | null>(null)
  const [showError, setShowError] = useState(false)
  const error = gc.error ?? uploads.error

  const start = async (dryRun: boolean) => {
    setNotice(null)
    setShowError(true)
    const result = await startGC({ input: { ...options, dryRun } })
    if (result.error) return result.error
    setShowError(false)
    setNotice(dryRun ? 'Dry run started: what it would free appears in the history below.' : 'Garbage collection started.')
    onStarted()
    return null
  }
  const purge = async (dryRun: boolean) => {
    setNotice(null)
    setShowError(true)
    const result = await purgeUploads({ dryRun })
    if (result.error) return
    setShowError(false)
    setNotice(dryRun ? 'Upload purge dry run started.' : 'Upload purge started.')
    onStarted()
  }

  return (
    <form className="panel settings" aria-label="Run garbage collection" onSubmit={(e: FormEvent) => e.preventDefault()}>
      <h2>Garbage collection</h2>
      <p className="muted">
        Deletes blobs and manifests no artifact references while the registry stays online. Blobs pushed or pulled in the last
        two hours are always kept.
      </p>
      <OptionFields id="gc-now" value={options} onChange={setOptions} />
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {showError && error && <ErrorMessage error={error} title="Could not start" />}
      <div className="button-row">
        <button type="button" disabled={gc.fetching} onClick={() => void start(true)}>
          Dry run
        </button>
        <ConfirmButton
          title="Run garbage collection now?"
          message={<p>Unreferenced blobs and manifests are deleted from storage for good. A dry run shows what would go first.</p>}
          confirmLabel="Run GC"
          disabled={gc.fetching}
          onConfirm={() => start(false)}
        >
          Run GC now
        </ConfirmButton>
        <button type="button" disabled={uploads.fetching} onClick={() => void purge(true)}>
          Purge uploads (dry run)
        </button>
        <button type="button" disabled={uploads.fetching} onClick={() => void purge(false)}>
          Purge uploads older than 7 days
        </button>
      </div>
    </form>
  )
}

function ScheduleForm({ schedule }: { schedule: Schedule }) {
  const [kind, setKind] = useState<ScheduleKind>(schedule.kind)
  const [cron, setCron] = useState(schedule.cron)
  const [options, setOptions] = useState<GCOptions>({
    deleteUntagged: schedule.deleteUntagged,
    workers: schedule.workers || 1,
    removeOrphans: schedule.removeOrphans,
  })
  const [dryRun, setDryRun] = useState(schedule.dryRun)
  const [{ fetching, error, data }, save] = useMutation(SetGCScheduleMutation)
  const [saved, setSaved] = useState(false)
  const [showError, setShowError] = useState(false)
  const current = data?.setGCSchedule ?? schedule

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setSaved(false)
    setShowError(true)
    const result = await save({ input: { kind, cron: kind === 'CUSTOM' ? cron : undefined, ...options, dryRun } })
    if (result.error) return
    setShowError(false)
    setSaved(true)
  }

  return (
    <form className="panel settings" aria-label="Garbage collection schedule" onSubmit={onSubmit}>
      <h2>Schedule</h2>
      <ScheduleFields id="gc-schedule" kind={kind} cron={cron} onKind={setKind} onCron={setCron} />
      {kind !== 'NONE' && (
        <>
          <OptionFields id="gc-schedule" value={options} onChange={setOptions} />
          <label className="check">
            <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} />
            Dry run only (report, delete nothing)
          </label>
        </>
      )}
      <p className="muted">
        {current.kind === 'NONE' ? (
          'Garbage collection runs only when started by hand.'
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
        <button type="submit" className="primary" disabled={fetching}>
          Save schedule
        </button>
      </div>
    </form>
  )
}

/** runResult says what a run did, or for a dry run would do. */
function runResult(run: Run): string {
  const verb = run.dryRun ? 'would free' : 'freed'
  if (run.kind === 'UPLOAD_PURGE') return `${run.uploadsPurged} uploads ${run.dryRun ? 'would be purged' : 'purged'}`
  const parts = [`${run.blobsDeleted} blobs (${run.manifestsDeleted} manifests), ${verb} ${formatBytes(run.bytesFreed)}`]
  if (run.artifactsDeleted) parts.push(`${run.artifactsDeleted} untagged artifacts`)
  if (run.orphans) parts.push(`${run.orphans} orphans (${formatBytes(run.orphanBytes)})`)
  if (run.failures) parts.push(`${run.failures} failed`)
  return parts.join('; ')
}

function RunRow({ run: initial, onChanged }: { run: Run; onChanged: () => void }) {
  const active = initial.status === 'PENDING' || initial.status === 'RUNNING'
  const [live] = useSubscription({ query: GCProgressSubscription, variables: { id: initial.id }, pause: !active })
  const run = live.data?.gcProgress ?? initial
  const [open, setOpen] = useState(false)
  const [, stop] = useMutation(StopGCMutation)
  const running = run.status === 'PENDING' || run.status === 'RUNNING'
  const what = run.kind === 'UPLOAD_PURGE' ? 'Upload purge' : 'Garbage collection'
  const total = run.kind === 'GC' && !run.dryRun ? run.blobsMarked : 0

  return (
    <Fragment>
      <tr>
        <td>
          <Time value={run.startedAt ?? run.createdAt} />
        </td>
        <td>
          {what}
          {run.dryRun && <span className="badge">dry run</span>}
          <div className="muted">{run.trigger === 'SCHEDULE' ? 'on schedule' : `by ${run.operator}`}</div>
        </td>
        <td>
          <RunStatus status={run.status} />
          {running && (
            <div>
              <progress
                max={total || undefined}
                value={total ? run.blobsDeleted : undefined}
                aria-label={`Progress of ${what.toLowerCase()} ${run.id}`}
              />
              {total > 0 && (
                <span className="muted">
                  {' '}
                  {run.blobsDeleted} of {total}
                </span>
              )}
            </div>
          )}
        </td>
        <td>{runResult(run)}</td>
        <td className="row-actions">
          <div className="button-row">
            <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
              {open ? 'Hide log' : 'Log'}
              <span className="sr-only"> of run {run.id}</span>
            </button>
            {running && (
              <ConfirmButton
                label={`Stop run ${run.id}`}
                title="Stop this run?"
                message={<p>It stops after the items in hand; what it deleted so far stays deleted.</p>}
                confirmLabel="Stop"
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
          <td colSpan={5}>
            <pre className="excerpt">{run.log || 'Nothing logged yet.'}</pre>
          </td>
        </tr>
      )}
    </Fragment>
  )
}
