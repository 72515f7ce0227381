import { useId, useMemo, useRef, useState } from 'react'
import { createPortal } from 'react-dom'
import { Link } from 'react-router'
import { useMutation, useQuery, useSubscription } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { useTitle } from '../../components/title'
import { useViewer } from '../../components/viewer'
import { formatBytes } from '../../format'
import { graphql } from '../../gql'
import type { CveExportsQuery } from '../../gql/graphql'
import { RunStatus } from '../cleanup/RunStatus'
import { ExportDialog } from './ExportDialog'

// What the list shows of an export; the query, the subscription and the stop answer spread it.
graphql(`
  fragment CVEExportFields on CVEExport {
    id
    jobName
    params
    status
    statusText
    rows
    estimatedRows
    size
    error
    createdAt
    finishedAt
    expiresAt
    downloadURL
  }
`)

const CVEExportsDocument = graphql(`
  query CVEExports {
    cveExports {
      ...CVEExportFields
    }
  }
`)

const ExportProgressSubscription = graphql(`
  subscription ExportProgress($id: ID!) {
    exportProgress(id: $id) {
      ...CVEExportFields
    }
  }
`)

const StopExportMutation = graphql(`
  mutation StopCVEExport($id: ID!) {
    stopCVEExport(id: $id) {
      ...CVEExportFields
    }
  }
`)

type Export = CveExportsQuery['cveExports'][number]

const ExportProjectNamesQuery = graphql(`
  query ExportProjectNames($ids: [ID!]) {
    projects(first: 100, where: { idIn: $ids }) {
      edges {
        node {
          id
          name
        }
      }
    }
  }
`)

/**
 * ExportsPage lists my CVE exports: running ones with a live progress bar, finished ones with a
 * download button. A file downloads once: after that the export is gone from the list.
 */
export function ExportsPage() {
  useTitle('CVE exports')
  const { viewer } = useViewer()
  const context = useMemo(() => ({ additionalTypenames: ['CVEExport'] }), [])
  const [result, refetch] = useQuery({ query: CVEExportsDocument, context, pause: !viewer || viewer.anonymous })
  const reload = () => refetch({ requestPolicy: 'network-only' })
  const exports = result.data?.cveExports
  // The exports name their projects by id; the names come in one bounded query (a project the
  // viewer no longer sees stays an id).
  const ids = useMemo(
    () => [...new Set((exports ?? []).flatMap((e) => (Array.isArray(e.params?.projects) ? (e.params.projects as unknown[]).map(String) : [])))].sort().slice(0, 100),
    [exports],
  )
  const [names] = useQuery({ query: ExportProjectNamesQuery, variables: { ids }, pause: ids.length === 0 })
  const projectNames = useMemo(
    () => new Map((names.data?.projects.edges ?? []).flatMap((e) => (e?.node ? [[e.node.id, e.node.name] as const] : []))),
    [names.data],
  )

  return (
    <>
      <div className="page-head">
        <h1>CVE exports</h1>
        {viewer && !viewer.anonymous && <ExportDialog />}
      </div>
      {viewer?.anonymous && (
        <div className="empty">
          <p>
            <Link to="/login?next=%2Fexports">Log in</Link> to export CVEs.
          </p>
        </div>
      )}
      {result.error && <ErrorMessage error={result.error} title="Could not load your exports" />}
      {!exports && result.fetching && <p className="muted">Loading…</p>}
      {exports && exports.length === 0 && (
        <div className="empty">
          <p>No exports yet. Start one with “Export CVEs”: its file appears here when it is ready.</p>
        </div>
      )}
      {exports && exports.length > 0 && (
        <table className="history">
          <caption className="sr-only">My CVE exports</caption>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Job</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Rows
              </th>
              <th scope="col">File</th>
            </tr>
          </thead>
          <tbody>
            {exports.map((e) => (
              <ExportRow key={e.id} initial={e} onGone={reload} projectNames={projectNames} />
            ))}
          </tbody>
        </table>
      )}
      <p className="muted">Files not downloaded are deleted when they expire; at most 50 exports are kept.</p>
    </>
  )
}

/** percent is how far an export is, from its rows and PostgreSQL's estimate (capped below 100 until done). */
function percent(e: Export): number {
  if (e.status === 'SUCCESS') return 100
  if (e.estimatedRows <= 0) return 0
  return Math.min(99, Math.floor((e.rows * 100) / e.estimatedRows))
}

function ExportRow({ initial, onGone, projectNames }: { initial: Export; onGone: () => void; projectNames: Map<string, string> }) {
  const active = initial.status === 'PENDING' || initial.status === 'RUNNING'
  const [live] = useSubscription({ query: ExportProgressSubscription, variables: { id: initial.id }, pause: !active })
  const e = live.data?.exportProgress ?? initial
  const [, stop] = useMutation(StopExportMutation)
  const [downloaded, setDownloaded] = useState(false)
  const running = e.status === 'PENDING' || e.status === 'RUNNING'
  const pct = percent(e)
  const name = e.jobName || `Export ${e.id}`

  return (
    <tr>
      <td>
        <Time value={e.createdAt} compact />
      </td>
      <td>
        <strong>{name}</strong>
        <div className="muted">{describeParams(e.params, projectNames)}</div>
      </td>
      <td>
        <RunStatus status={e.status} />
        {(running || e.status === 'SUCCESS') && (
          <div>
            <progress max={100} value={pct} aria-label={`Progress of ${name}`} /> <span className="muted">{pct}%</span>
          </div>
        )}
        {e.error && <div className="error-text">{e.error}</div>}
        {!e.error && e.statusText && e.status !== 'RUNNING' && <div className="muted">{e.statusText}</div>}
      </td>
      <td className="num">{e.rows.toLocaleString()}</td>
      <td className="row-actions">
        {running && (
          <ConfirmButton
            label={`Stop ${name}`}
            title={`Stop ${name}?`}
            message={<p>The export ends without a file.</p>}
            confirmLabel="Stop export"
            onConfirm={async () => {
              const res = await stop({ id: e.id })
              return res.error ?? null
            }}
          >
            Stop
          </ConfirmButton>
        )}
        {e.downloadURL && !downloaded && (
          <>
            <DownloadOnce
              url={e.downloadURL}
              name={name}
              onDownloaded={() => {
                // The server deletes the file once it is downloaded: the row goes with it.
                setDownloaded(true)
                setTimeout(onGone, 2000)
              }}
            />
            <div className="muted">
              {formatBytes(e.size)}, expires <Time value={e.expiresAt} />
            </div>
          </>
        )}
        {downloaded && <span className="muted">Downloaded</span>}
      </td>
    </tr>
  )
}

/** describeParams writes an export's filters in one line. */
function describeParams(params: Record<string, unknown> | null | undefined, projectNames: Map<string, string>): string {
  if (!params) return ''
  const parts: string[] = []
  const add = (label: string, v: unknown) => {
    if (Array.isArray(v) ? v.length : v) parts.push(`${label} ${Array.isArray(v) ? v.join(', ') : String(v)}`)
  }
  const projects = Array.isArray(params.projects) ? params.projects.map((id) => projectNames.get(String(id)) ?? `project ${id}`) : []
  add(projects.length === 1 ? 'project' : 'projects', projects)
  add('repositories', params.repositories)
  add('tags', params.tags)
  add('labels', params.labels)
  add('CVEs', params.cveIds)
  return parts.join(' · ')
}

/**
 * DownloadOnce says, before the download starts, that the file can be downloaded only once (the
 * server deletes it as it sends it); the download is a plain link in the dialog.
 */
function DownloadOnce({ url, name, onDownloaded }: { url: string; name: string; onDownloaded: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const id = useId()
  return (
    <>
      <button type="button" className="primary" onClick={() => dialog.current?.showModal()}>
        Download CSV<span className="sr-only"> of {name}</span>
      </button>
      {createPortal(
        <dialog ref={dialog} className="dialog" aria-labelledby={`${id}-title`} aria-describedby={`${id}-message`}>
          <form method="dialog" onSubmit={(e) => e.preventDefault()}>
            <h2 id={`${id}-title`}>Download {name}?</h2>
            <p id={`${id}-message`} className="warning">
              The file can be downloaded once: the server deletes it as it sends it, and the export leaves this
              list. Save it where you will find it.
            </p>
            <div className="actions">
              <button type="button" autoFocus onClick={() => dialog.current?.close()}>
                Cancel
              </button>
              <a
                className="button primary"
                href={url}
                download
                onClick={() => {
                  dialog.current?.close()
                  onDownloaded()
                }}
              >
                Download now
              </a>
            </div>
          </form>
        </dialog>,
        document.body,
      )}
    </>
  )
}
