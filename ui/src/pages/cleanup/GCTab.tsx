import { useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { formatBytes } from '../../format'
import { graphql } from '../../gql'
import type { GcRunsQuery, GcScheduleQuery } from '../../gql/graphql'
import { RunHistory, RunStatus, ScheduleForm, StartPanel, underWay, useRunHistory, useStart } from './RunPanel'

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

// A GC schedule as the form shows it.
graphql(`
  fragment GCScheduleFields on GCSchedule {
    kind
    cron
    deleteUntagged
    dryRun
    workers
    removeOrphans
    nextRunAt
    lastRunAt
  }
`)

const GCScheduleDocument = graphql(`
  query GCSchedule {
    gcSchedule {
      ...GCScheduleFields
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
      ...GCScheduleFields
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
      <p className="help indent">Untagged artifacts pushed within the time window are kept; the run says how many.</p>
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
  const { history, reload } = useRunHistory(GCRunsDocument, (d) => d.gcRuns, 'GCRun')
  const [, stop] = useMutation(StopGCMutation)

  return (
    <>
      <RunNow onStarted={reload} />
      {schedule.error && <ErrorMessage error={schedule.error} title="Could not load the schedule" />}
      {schedule.data && <GCScheduleForm schedule={schedule.data.gcSchedule} />}
      <RunHistory
        label="Garbage collection history"
        caption="Garbage collection runs"
        noun="run"
        empty="No garbage collection or upload purge has run yet."
        errorTitle="Could not load the history"
        history={history}
        columns={['Started', 'What', 'Status', 'Result']}
        cells={(run) => <RunCells run={run} />}
        follow={{ subscription: GCProgressSubscription, pick: (d) => d.gcProgress }}
        stopping={{
          title: 'Stop this run?',
          message: 'It stops after the items in hand; what it deleted so far stays deleted.',
          confirmLabel: 'Stop',
          stop: (id) => stop({ id }),
        }}
        onChanged={reload}
      />
    </>
  )
}

function RunNow({ onStarted }: { onStarted: () => void }) {
  const [options, setOptions] = useState<GCOptions>({ deleteUntagged: false, workers: 1, removeOrphans: false })
  const [gc, startGC] = useMutation(StartGCMutation)
  const [uploads, purgeUploads] = useMutation(PurgeUploadsMutation)
  const { notice, showError, start } = useStart(onStarted)
  const error = gc.error ?? uploads.error

  const collect = (dryRun: boolean) =>
    start(
      () => startGC({ input: { ...options, dryRun } }),
      dryRun ? 'Dry run started: what it would free appears in the history below.' : 'Garbage collection started.',
    )
  const purge = (dryRun: boolean) =>
    void start(() => purgeUploads({ dryRun }), dryRun ? 'Upload purge dry run started.' : 'Upload purge started.')

  return (
    <StartPanel
      label="Run garbage collection"
      title="Garbage collection"
      intro={
        <p className="muted">
          Deletes blobs and manifests no artifact references while the registry stays online. Blobs pushed or pulled in the last
          two hours are always kept.
        </p>
      }
      fields={<OptionFields id="gc-now" value={options} onChange={setOptions} />}
      notice={notice}
      error={showError ? error : null}
      errorTitle="Could not start"
    >
      <button type="button" disabled={gc.fetching} onClick={() => void collect(true)}>
        Dry run
      </button>
      <ConfirmButton
        title="Run garbage collection now?"
        message={<p>Unreferenced blobs and manifests are deleted from storage for good. A dry run shows what would go first.</p>}
        confirmLabel="Run GC"
        disabled={gc.fetching}
        onConfirm={() => collect(false)}
      >
        Run GC now
      </ConfirmButton>
      <button type="button" disabled={uploads.fetching} onClick={() => purge(true)}>
        Purge uploads (dry run)
      </button>
      <button type="button" disabled={uploads.fetching} onClick={() => purge(false)}>
        Purge uploads older than 7 days
      </button>
    </StartPanel>
  )
}

function GCScheduleForm({ schedule }: { schedule: Schedule }) {
  const [options, setOptions] = useState<GCOptions>({
    deleteUntagged: schedule.deleteUntagged,
    workers: schedule.workers || 1,
    removeOrphans: schedule.removeOrphans,
  })
  const [, save] = useMutation(SetGCScheduleMutation)
  return (
    <ScheduleForm
      label="Garbage collection schedule"
      id="gc-schedule"
      schedule={schedule}
      fields={<OptionFields id="gc-schedule" value={options} onChange={setOptions} />}
      dryRunLabel="Dry run only (report, delete nothing)"
      manualOnly="Garbage collection runs only when started by hand."
      save={async (timing) => {
        const result = await save({ input: { ...timing, ...options } })
        return { error: result.error, saved: result.data?.setGCSchedule }
      }}
    />
  )
}

/** runResult says what a run did, or for a dry run would do. */
function runResult(run: Run): string {
  const verb = run.dryRun ? 'would free' : 'freed'
  if (run.kind === 'UPLOAD_PURGE') return `${run.uploadsPurged} uploads ${run.dryRun ? 'would be purged' : 'purged'}`
  const parts = [`${run.blobsDeleted} blobs (${run.manifestsDeleted} manifests), ${verb} ${formatBytes(run.bytesFreed)}`]
  if (run.artifactsDeleted) parts.push(`${run.artifactsDeleted} untagged artifacts`)
  // worker/gc/collect.go logs the untagged artifacts the time window kept.
  const kept = /untagged artifacts protected by the time window \(pushed within the last ([^)]+)\): (\d+) kept/.exec(run.log ?? '')
  if (kept) parts.push(`${kept[2]} untagged artifacts kept: pushed within the last ${kept[1]}`)
  if (run.orphans) parts.push(`${run.orphans} orphans (${formatBytes(run.orphanBytes)})`)
  if (run.failures) parts.push(`${run.failures} failed`)
  return parts.join('; ')
}

function RunCells({ run }: { run: Run }) {
  const what = run.kind === 'UPLOAD_PURGE' ? 'Upload purge' : 'Garbage collection'
  const total = run.kind === 'GC' && !run.dryRun ? run.blobsMarked : 0
  return (
    <>
      <td>
        <Time value={run.startedAt ?? run.createdAt} compact />
      </td>
      <td>
        {what}
        {run.dryRun && <span className="badge">dry run</span>}
        <div className="muted">{run.trigger === 'SCHEDULE' ? 'on schedule' : `by ${run.operator}`}</div>
      </td>
      <td>
        <RunStatus status={run.status} />
        {underWay(run.status) && (
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
    </>
  )
}
