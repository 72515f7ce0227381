import { useId, useMemo, useRef, useState, type FormEvent } from 'react'
import { createPortal } from 'react-dom'
import { useNavigate } from 'react-router'
import { useMutation, useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'

const ExportChoicesQuery = graphql(`
  query ExportChoices {
    projects(first: 100, orderBy: { field: NAME, direction: ASC }) {
      totalCount
      edges {
        node {
          id
          name
          myPermissions
        }
      }
    }
    labels {
      id
      name
    }
  }
`)

const ExportCVEMutation = graphql(`
  mutation ExportCVE($input: ExportCVEInput!) {
    exportCVE(input: $input) {
      id
      status
    }
  }
`)

/**
 * ExportDialog starts a CVE export: the projects (one or more) and Harbor's filters, globs checked
 * by the server, which names the field it refuses. On success it opens the list of my exports,
 * where the new one's progress shows.
 */
export function ExportDialog() {
  const dialog = useRef<HTMLDialogElement>(null)
  const id = useId()
  const [, setOpen] = useState(false)
  // Asked at once (not when the dialog opens), so that a viewer who may export nowhere gets no button.
  const [choices] = useQuery({ query: ExportChoicesQuery })
  const [{ fetching, error }, exportCVE] = useMutation(ExportCVEMutation)
  const [showError, setShowError] = useState(false)
  const [jobName, setJobName] = useState('')
  const [projects, setProjects] = useState<string[]>([])
  const [repositories, setRepositories] = useState('')
  const [tags, setTags] = useState('')
  const [labels, setLabels] = useState<string[]>([])
  const [cveIds, setCveIds] = useState('')
  const navigate = useNavigate()

  const allowed = useMemo(
    () =>
      (choices.data?.projects.edges ?? [])
        .flatMap((e) => (e?.node ? [e.node] : []))
        .filter((p) => p.myPermissions.includes('export-cve:create')),
    [choices.data],
  )

  const show = () => {
    setOpen(true)
    setShowError(false)
    dialog.current?.showModal()
  }
  const close = () => {
    dialog.current?.close()
    setOpen(false)
  }
  const toggle = (list: string[], set: (v: string[]) => void, value: string, on: boolean) =>
    set(on ? [...list, value] : list.filter((v) => v !== value))

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setShowError(true)
    const result = await exportCVE({
      input: {
        jobName: jobName.trim() || undefined,
        projects,
        repositories: repositories.trim() || undefined,
        tags: tags.trim() || undefined,
        labels: labels.length ? labels : undefined,
        cveIds: cveIds.trim() || undefined,
      },
    })
    if (result.error || !result.data) return
    close()
    navigate('/exports')
  }

  // A viewer who may export from no project (a guest, say) is not offered the export at all.
  if (choices.data && allowed.length === 0) return null

  return (
    <>
      <button type="button" onClick={show}>
        Export CVEs
      </button>
      {createPortal(
        <dialog ref={dialog} className="dialog" aria-labelledby={`${id}-title`} onClose={() => setOpen(false)}>
          <form onSubmit={onSubmit}>
            <h2 id={`${id}-title`}>Export CVEs</h2>
            <p className="muted">
              A CSV of the vulnerabilities found in the chosen projects, written in the background. Globs: <code>*</code>,{' '}
              <code>**</code>, <code>?</code> and <code>{'{a,b}'}</code>.
            </p>
            <fieldset className="choices">
              <legend>Projects</legend>
              {choices.fetching && <p className="muted">Loading projects…</p>}
              {choices.data && allowed.length === 0 && <p className="muted">You may export from no project.</p>}
              {allowed.map((p) => (
                <label key={p.id} className="check">
                  <input
                    type="checkbox"
                    checked={projects.includes(p.id)}
                    onChange={(e) => toggle(projects, setProjects, p.id, e.target.checked)}
                  />
                  {p.name}
                </label>
              ))}
            </fieldset>
            <label htmlFor={`${id}-repos`}>Repositories</label>
            <input id={`${id}-repos`} value={repositories} placeholder="** (all); e.g. {app,web/*}" onChange={(e) => setRepositories(e.target.value)} />
            <p className="help">Matched without the project name.</p>
            <label htmlFor={`${id}-tags`}>Tags</label>
            <input id={`${id}-tags`} value={tags} placeholder="** (all); e.g. v1.*" onChange={(e) => setTags(e.target.value)} />
            <p className="help">Untagged artifacts are always included.</p>
            {(choices.data?.labels.length ?? 0) > 0 && (
              <fieldset className="choices">
                <legend>Labels (any of)</legend>
                {choices.data?.labels.map((l) => (
                  <label key={l.id} className="check">
                    <input type="checkbox" checked={labels.includes(l.id)} onChange={(e) => toggle(labels, setLabels, l.id, e.target.checked)} />
                    {l.name}
                  </label>
                ))}
              </fieldset>
            )}
            <label htmlFor={`${id}-cves`}>CVE ids</label>
            <input id={`${id}-cves`} value={cveIds} placeholder="all; e.g. {CVE-2021-44228,CVE-2023-*}" onChange={(e) => setCveIds(e.target.value)} />
            <label htmlFor={`${id}-name`}>Job name</label>
            <input id={`${id}-name`} value={jobName} placeholder="optional" onChange={(e) => setJobName(e.target.value)} />
            {showError && error && <ErrorMessage error={error} title="Could not start the export" />}
            <div className="actions">
              <button type="button" onClick={close}>
                Cancel
              </button>
              <button type="submit" className="primary" disabled={fetching || projects.length === 0}>
                Start export
              </button>
            </div>
          </form>
        </dialog>,
        document.body,
      )}
    </>
  )
}
