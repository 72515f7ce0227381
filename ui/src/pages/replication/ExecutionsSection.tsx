import { Fragment, useEffect, useMemo, useState } from 'react'
import { useMutation, useQuery, useSubscription } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { formatBytes } from '../../format'
import { graphql } from '../../gql'
import type { ReplicationExecutionsQuery } from '../../gql/graphql'
import { RunStatus } from '../cleanup/RunStatus'

graphql(`
  fragment ReplicationExecutionFields on ReplicationExecution {
    id
    status
    trigger
    total
    succeeded
    failed
    skipped
    stopped
    bytes
    log
    operator
    createdAt
    endedAt
    policy {
      id
      name
    }
  }
`)

const ExecutionsDocument = graphql(`
  query ReplicationExecutions {
    replicationExecutions(limit: 20) {
      total
      items {
        ...ReplicationExecutionFields
      }
    }
  }
`)

const TasksDocument = graphql(`
  query ReplicationTasks($id: ID!) {
    replicationExecution(id: $id) {
      id
      tasks(limit: 100) {
        total
        items {
          id
          operation
          srcResource
          dstResource
          status
          bytes
          durationMs
          message
        }
      }
    }
  }
`)

const ProgressSubscription = graphql(`
  subscription ReplicationProgress($id: ID!) {
    replicationProgress(id: $id) {
      ...ReplicationExecutionFields
    }
  }
`)

const StopMutation = graphql(`
  mutation StopReplication($id: ID!) {
    stopReplication(id: $id) {
      ...ReplicationExecutionFields
    }
  }
`)

const RetryMutation = graphql(`
  mutation RetryReplication($id: ID!) {
    retryReplication(id: $id) {
      ...ReplicationExecutionFields
    }
  }
`)

type Execution = ReplicationExecutionsQuery['replicationExecutions']['items'][number]

/** ExecutionsSection is the history of executions, running ones followed live. */
export function ExecutionsSection({ version, onEnded }: { version: number; onEnded: () => void }) {
  const context = useMemo(() => ({ additionalTypenames: ['ReplicationExecution'] }), [])
  const [list, refetch] = useQuery({ query: ExecutionsDocument, context })
  // A policy started from this page: show its execution at once.
  useEffect(() => {
    if (version > 0) refetch({ requestPolicy: 'network-only' })
  }, [version, refetch])
  return (
    <section aria-labelledby="executions-title" className="panel">
      <h2 id="executions-title">Executions</h2>
      {list.error && <ErrorMessage error={list.error} title="Could not load the executions" />}
      {list.data && list.data.replicationExecutions.items.length === 0 && <p className="muted">Nothing has been replicated yet.</p>}
      {list.data && list.data.replicationExecutions.items.length > 0 && (
        <table className="history">
          <caption className="sr-only">Replication executions</caption>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Policy</th>
              <th scope="col">Status</th>
              <th scope="col">Tasks</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.replicationExecutions.items.map((e) => (
              <ExecutionRow key={e.id} execution={e} onEnded={onEnded} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

function ExecutionRow({ execution: initial, onEnded }: { execution: Execution; onEnded: () => void }) {
  const active = initial.status === 'PENDING' || initial.status === 'RUNNING'
  const [live] = useSubscription({ query: ProgressSubscription, variables: { id: initial.id }, pause: !active })
  const [stopped, stop] = useMutation(StopMutation)
  const [retried, retry] = useMutation(RetryMutation)
  const e = retried.data?.retryReplication ?? stopped.data?.stopReplication ?? live.data?.replicationProgress ?? initial
  const running = e.status === 'PENDING' || e.status === 'RUNNING'
  const [open, setOpen] = useState(false)
  const done = e.succeeded + e.failed + e.skipped + e.stopped
  // An execution followed live that ends changes its policy's "last execution".
  useEffect(() => {
    if (active && !running) onEnded()
  }, [active, running, onEnded])

  return (
    <Fragment>
      <tr>
        <td>
          <Time value={e.createdAt} compact />
        </td>
        <td>
          {e.policy.name}
          <div className="muted">{e.trigger === 'MANUAL' ? `by ${e.operator}` : e.trigger.toLowerCase().replace('_', '-')}</div>
        </td>
        <td>
          <RunStatus status={e.status} />
          {running && (
            <div>
              <progress max={e.total || undefined} value={e.total ? done : undefined} aria-label={`Progress of execution ${e.id}`} />
              <span className="muted">
                {' '}
                {done} of {e.total}
              </span>
            </div>
          )}
        </td>
        <td>
          {e.succeeded} copied, {e.failed} failed, {e.skipped} skipped
          {e.stopped > 0 && `, ${e.stopped} stopped`}
          <div className="muted">{formatBytes(e.bytes)} sent</div>
        </td>
        <td className="row-actions">
          <div className="button-row">
            <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
              {open ? 'Hide tasks' : 'Tasks'}
              <span className="sr-only"> of execution {e.id}</span>
            </button>
            {running && (
              <button type="button" className="danger" onClick={() => void stop({ id: e.id })}>
                Stop<span className="sr-only"> execution {e.id}</span>
              </button>
            )}
            {!running && (e.failed > 0 || e.stopped > 0) && (
              <button type="button" onClick={() => void retry({ id: e.id })}>
                Retry failed<span className="sr-only"> of execution {e.id}</span>
              </button>
            )}
          </div>
          {(stopped.error || retried.error) && <ErrorMessage error={(stopped.error ?? retried.error)!} />}
        </td>
      </tr>
      {open && (
        <tr className="details">
          <td colSpan={5}>
            <Tasks id={e.id} version={done} />
            <pre className="excerpt">{e.log || 'Nothing logged yet.'}</pre>
          </td>
        </tr>
      )}
    </Fragment>
  )
}

function Tasks({ id, version }: { id: string; version: number }) {
  const [tasks, refetch] = useQuery({ query: TasksDocument, variables: { id }, requestPolicy: 'network-only' })
  // Each task that ends moves the execution's counts: read the tasks again.
  useEffect(() => {
    refetch({ requestPolicy: 'network-only' })
  }, [version, refetch])
  const items = tasks.data?.replicationExecution?.tasks.items ?? []
  if (tasks.error) return <ErrorMessage error={tasks.error} title="Could not load the tasks" />
  return (
    <table>
      <caption className="sr-only">Tasks of execution {id}</caption>
      <thead>
        <tr>
          <th scope="col">Source</th>
          <th scope="col">Destination</th>
          <th scope="col">Status</th>
          <th scope="col">Sent</th>
          <th scope="col">Reason</th>
        </tr>
      </thead>
      <tbody>
        {items.map((t) => (
          <tr key={t.id}>
            <td>
              {t.operation === 'deletion' && <span className="badge">delete</span>} {t.srcResource}
            </td>
            <td>{t.dstResource}</td>
            <td>{t.status.toLowerCase()}</td>
            <td>
              {formatBytes(t.bytes)} in {t.durationMs} ms
            </td>
            <td>{t.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
