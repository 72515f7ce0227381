import { Fragment, useMemo, useState, type FormEvent, type ReactNode } from 'react'
import { useQuery, useSubscription, type CombinedError, type TypedDocumentNode } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, useLocalPage, type Page } from '../../components/Pager'
import { Time } from '../../components/Time'
import type { ScheduleKind } from '../../gql/graphql'
import { RunStatus } from './RunStatus'
import { ScheduleFields } from './ScheduleFields'

// The lifecycle every clean-up job shares on screen: start it now (or as a dry run), schedule
// it, and follow its runs in a history whose running rows update live and can be stopped. Each
// tab brings its own parameters, columns and GraphQL documents.

/** RunLike is what the shared views read of any run. */
export interface RunLike {
  id: string
  status: string
  log: string
}

/** underWay reports whether a run may still change: queued or running. */
export function underWay(status: string): boolean {
  return status === 'PENDING' || status === 'RUNNING'
}

type Outcome = { error?: CombinedError }

/**
 * useStart runs a start mutation and says how it went: a notice on success (and the history
 * reloaded), the error otherwise, until the next try.
 */
export function useStart(onStarted: () => void) {
  const [notice, setNotice] = useState<string | null>(null)
  const [showError, setShowError] = useState(false)
  const start = async (mutate: () => Promise<Outcome>, started: string): Promise<CombinedError | null> => {
    setNotice(null)
    setShowError(true)
    const result = await mutate()
    if (result.error) return result.error
    setShowError(false)
    setNotice(started)
    onStarted()
    return null
  }
  return { notice, showError, start }
}

/** StartPanel is the form that starts a run now: the job's fields, what happened, its buttons. */
export function StartPanel({
  label,
  title,
  intro,
  notice,
  error,
  errorTitle,
  fields,
  children,
}: {
  label: string
  title: string
  intro?: ReactNode
  notice: string | null
  error: CombinedError | null | undefined
  errorTitle: string
  fields: ReactNode
  children: ReactNode
}) {
  return (
    <form className="panel settings" aria-label={label} onSubmit={(e: FormEvent) => e.preventDefault()}>
      <h2>{title}</h2>
      {intro}
      {fields}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {error && <ErrorMessage error={error} title={errorTitle} />}
      <div className="button-row">{children}</div>
    </form>
  )
}

/** Timing is a saved schedule as the server reports it. */
export interface Timing {
  kind: ScheduleKind
  cron: string
  dryRun: boolean
  nextRunAt?: string | null
  lastRunAt?: string | null
}

/**
 * ScheduleForm edits when a job runs by itself: the kind (or a cron expression), the job's own
 * fields and a dry-run switch while it runs at all, and when it runs next. save stores it and
 * returns the schedule as saved.
 */
export function ScheduleForm({
  label,
  id,
  schedule,
  fields,
  invalid,
  dryRunLabel,
  manualOnly,
  save,
}: {
  label: string
  id: string
  schedule: Timing
  fields: ReactNode
  invalid?: boolean
  dryRunLabel: string
  manualOnly: string
  save: (timing: { kind: ScheduleKind; cron?: string; dryRun: boolean }) => Promise<Outcome & { saved?: Timing }>
}) {
  const [kind, setKind] = useState<ScheduleKind>(schedule.kind)
  const [cron, setCron] = useState(schedule.cron)
  const [dryRun, setDryRun] = useState(schedule.dryRun)
  const [current, setCurrent] = useState<Timing>(schedule)
  const [fetching, setFetching] = useState(false)
  const [error, setError] = useState<CombinedError | null>(null)
  const [saved, setSaved] = useState(false)

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setSaved(false)
    setFetching(true)
    const result = await save({ kind, cron: kind === 'CUSTOM' ? cron : undefined, dryRun })
    setFetching(false)
    setError(result.error ?? null)
    if (result.error) return
    if (result.saved) setCurrent(result.saved)
    setSaved(true)
  }

  return (
    <form className="panel settings" aria-label={label} onSubmit={onSubmit}>
      <h2>Schedule</h2>
      <ScheduleFields id={id} kind={kind} cron={cron} onKind={setKind} onCron={setCron} />
      {kind !== 'NONE' && (
        <>
          {fields}
          <label className="check">
            <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} />
            {dryRunLabel}
          </label>
        </>
      )}
      <p className="muted">
        {current.kind === 'NONE' ? (
          manualOnly
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
      {error && <ErrorMessage error={error} title="Could not save the schedule" />}
      <div className="actions">
        <button type="submit" className="primary" disabled={fetching || (kind !== 'NONE' && invalid)}>
          Save schedule
        </button>
      </div>
    </form>
  )
}

/** Stopping says how a run is stopped: the words of its button and dialog, and the mutation. */
export interface Stopping {
  title: string
  message: string
  confirmLabel: string
  stop: (id: string) => Promise<Outcome>
}

/** Following says how a running run is followed live: the subscription and where its run is. */
export interface Following<R, D> {
  subscription: TypedDocumentNode<D, { id: string }>
  pick: (data: D) => R | null | undefined
}

type PageInfo = Parameters<typeof Pager>[0]['pageInfo']

/** Connection is a page of runs as a GraphQL connection field returns it. */
interface Connection<R> {
  pageInfo: PageInfo
  edges?: ({ node?: R | null } | null)[] | null
}

/** History is what RunHistory shows: a page of runs, fetched or not yet, or what went wrong. */
export interface History<R> {
  fetched: boolean
  error?: CombinedError
  rows: R[]
  page: Page
  pageInfo?: PageInfo
}

/**
 * useRunHistory fetches a page of runs (ten at a time) with query, whose connection field
 * connection picks; typename is the runs' type, whose changes refetch it. reload refetches now.
 */
export function useRunHistory<D, R>(
  query: TypedDocumentNode<D, Page['variables']>,
  connection: (data: D) => Connection<R>,
  typename: string,
): { history: History<R>; reload: () => void } {
  const page = useLocalPage(10)
  const context = useMemo(() => ({ additionalTypenames: [typename] }), [typename])
  const [runs, refetch] = useQuery({ query, variables: page.variables, context })
  const conn = runs.data ? connection(runs.data) : undefined
  const rows = conn?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []
  return {
    history: { fetched: !!runs.data, error: runs.error, rows, page, pageInfo: conn?.pageInfo },
    reload: () => refetch({ requestPolicy: 'network-only' }),
  }
}

/**
 * RunHistory is the history of a job's runs, newest first, a page at a time: each row the tab's
 * own cells, then its log on demand and, while it runs, a stop button; running rows update live.
 */
export function RunHistory<R extends RunLike, D>({
  label,
  caption,
  noun,
  empty,
  errorTitle,
  history: { fetched, error, rows, page, pageInfo },
  columns,
  numeric,
  cells,
  follow,
  stopping,
  onChanged,
}: {
  label: string
  caption: string
  noun: string
  empty: string
  errorTitle: string
  history: History<R>
  /** columns name the tab's own cells; numeric is the one whose figures align right. */
  columns: string[]
  numeric?: string
  cells: (run: R) => ReactNode
  follow: Following<R, D>
  stopping: Stopping
  onChanged: () => void
}) {
  return (
    <section aria-label={label}>
      <h2>History</h2>
      {error && <ErrorMessage error={error} title={errorTitle} />}
      {fetched && rows.length === 0 && (
        <div className="empty">
          <p>{empty}</p>
        </div>
      )}
      {rows.length > 0 && (
        <table className="history">
          <caption className="sr-only">{caption}</caption>
          <thead>
            <tr>
              {columns.map((c) => (
                <th scope="col" key={c} className={c === numeric ? 'num' : undefined}>
                  {c}
                </th>
              ))}
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <RunRow key={r.id} initial={r} noun={noun} columns={columns.length + 1} cells={cells} follow={follow} stopping={stopping} onChanged={onChanged} />
            ))}
          </tbody>
        </table>
      )}
      {pageInfo && <Pager page={page} pageInfo={pageInfo} label={caption} />}
    </section>
  )
}

function RunRow<R extends RunLike, D>({
  initial,
  noun,
  columns,
  cells,
  follow,
  stopping,
  onChanged,
}: {
  initial: R
  noun: string
  columns: number
  cells: (run: R) => ReactNode
  follow: Following<R, D>
  stopping: Stopping
  onChanged: () => void
}) {
  const [live] = useSubscription({ query: follow.subscription, variables: { id: initial.id }, pause: !underWay(initial.status) })
  const run = (live.data && follow.pick(live.data)) || initial
  const [open, setOpen] = useState(false)

  return (
    <Fragment>
      <tr>
        {cells(run)}
        <td className="row-actions">
          <div className="button-row">
            <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
              {open ? 'Hide log' : 'Log'}
              <span className="sr-only">
                {' '}
                of {noun} {run.id}
              </span>
            </button>
            {underWay(run.status) && (
              <ConfirmButton
                label={`Stop ${noun} ${run.id}`}
                title={stopping.title}
                message={<p>{stopping.message}</p>}
                confirmLabel={stopping.confirmLabel}
                onConfirm={async () => {
                  const res = await stopping.stop(run.id)
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
          <td colSpan={columns}>
            <pre className="excerpt">{run.log || 'Nothing logged yet.'}</pre>
          </td>
        </tr>
      )}
    </Fragment>
  )
}

export { RunStatus }
