import { useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { graphql } from '../../gql'
import type { PurgeRunsQuery, PurgeScheduleQuery } from '../../gql/graphql'
import { operations } from '../audit/AuditLogTable'
import { RunHistory, RunStatus, ScheduleForm, StartPanel, useRunHistory, useStart } from './RunPanel'

// A purge schedule as the form shows it.
graphql(`
  fragment PurgeScheduleFields on PurgeSchedule {
    kind
    cron
    retentionHours
    operations
    dryRun
    nextRunAt
    lastRunAt
  }
`)

const PurgeScheduleDocument = graphql(`
  query PurgeSchedule {
    auditSettings {
      purgeSchedule {
        ...PurgeScheduleFields
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
      ...PurgeScheduleFields
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
  const { history, reload } = useRunHistory(PurgeRunsDocument, (d) => d.purgeRuns, 'PurgeRun')
  const [, stop] = useMutation(StopPurgeMutation)

  return (
    <>
      <PurgeNow onStarted={reload} />
      {schedule.error && <ErrorMessage error={schedule.error} title="Could not load the schedule" />}
      {schedule.data && <PurgeScheduleForm schedule={schedule.data.auditSettings.purgeSchedule} />}
      <RunHistory
        label="Purge history"
        caption="Purge runs"
        noun="purge"
        empty="No purge has run yet."
        errorTitle="Could not load the purge history"
        history={history}
        columns={['Started', 'Status', 'Trigger', 'Parameters', 'Entries']}
        numeric="Entries"
        cells={(run) => <RunCells run={run} />}
        follow={{ subscription: PurgeProgressSubscription, pick: (d) => d.purgeProgress }}
        stopping={{
          title: 'Stop this purge?',
          message: 'It stops after its current batch; what it purged so far stays purged.',
          confirmLabel: 'Stop purge',
          stop: (id) => stop({ id }),
        }}
        onChanged={reload}
      />
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
  const { notice, showError, start } = useStart(onStarted)
  const invalid = retentionError(retention)

  const begin = (dryRun: boolean) =>
    start(
      () => purge({ input: { retentionHours: Number(retention), operations: ops, dryRun } }),
      dryRun ? 'Dry run started: its count appears in the history below.' : 'Purge started.',
    )

  return (
    <StartPanel
      label="Purge now"
      title="Purge now"
      fields={
        <>
          <RetentionField id="purge-retention" value={retention} error={invalid} onChange={setRetention} />
          <OperationChoices id="purge-operations" chosen={ops} onChange={setOps} />
        </>
      }
      notice={notice}
      error={showError ? error : null}
      errorTitle="Could not start the purge"
    >
      <button type="button" disabled={fetching || !!invalid} onClick={() => void begin(true)}>
        Dry run
      </button>
      <ConfirmButton
        title="Purge the audit log now?"
        message={
          <p>
            Entries older than {retention} hours with the operations {ops.join(', ') || '(none)'} are deleted for good. A
            dry run counts them first.
          </p>
        }
        confirmLabel="Purge now"
        disabled={fetching || !!invalid}
        onConfirm={() => begin(false)}
      >
        Purge now
      </ConfirmButton>
    </StartPanel>
  )
}

function PurgeScheduleForm({ schedule }: { schedule: Schedule }) {
  const [retention, setRetention] = useState(String(schedule.retentionHours))
  const [ops, setOps] = useState<string[]>(schedule.operations)
  const [, save] = useMutation(SetPurgeScheduleMutation)
  const invalid = retentionError(retention)
  return (
    <ScheduleForm
      label="Purge schedule"
      id="purge-schedule"
      schedule={schedule}
      fields={
        <>
          <RetentionField id="schedule-retention" value={retention} error={invalid} onChange={setRetention} />
          <OperationChoices id="schedule-operations" chosen={ops} onChange={setOps} />
        </>
      }
      invalid={!!invalid}
      dryRunLabel="Dry run only (count, delete nothing)"
      manualOnly="Purges run only when started by hand."
      save={async (timing) => {
        const result = await save({ input: { ...timing, retentionHours: Number(retention), operations: ops } })
        return { error: result.error, saved: result.data?.setPurgeSchedule }
      }}
    />
  )
}

function RunCells({ run }: { run: Run }) {
  return (
    <>
      <td>
        <Time value={run.startedAt ?? run.createdAt} compact />
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
    </>
  )
}
