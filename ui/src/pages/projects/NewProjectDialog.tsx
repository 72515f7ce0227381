import { useRef, useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { usePermissions } from '../../components/permissions'
import { graphql } from '../../gql'
import { EndpointsDocument } from '../replication/EndpointsSection'

const CreateProjectMutation = graphql(`
  mutation CreateProject($input: CreateProjectInput!) {
    createProject(input: $input) {
      id
      name
      public
      repositoryCount
      createdAt
      proxyRegistryID
    }
  }
`)

/**
 * NewProjectDialog is the "New project" button and its modal form. The native <dialog> keeps focus
 * inside while open and closes on Escape.
 */
export function NewProjectDialog({ onCreated }: { onCreated: (name: string) => void }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [name, setName] = useState('')
  const [isPublic, setPublic] = useState(false)
  // A proxy-cache project names a registry endpoint, which only those who may read endpoints
  // (administrators) can choose.
  const system = usePermissions(null)
  const mayProxy = system.can('registry:read')
  const [endpoints] = useQuery({ query: EndpointsDocument, pause: !mayProxy })
  const choices = endpoints.data?.registryEndpoints.items ?? []
  const [proxy, setProxy] = useState(false)
  const [registryID, setRegistryID] = useState('')
  const [namespace, setNamespace] = useState('')
  const [freshness, setFreshness] = useState('300')
  const [{ fetching, error }, create] = useMutation(CreateProjectMutation)
  const [shownError, setShownError] = useState(false)

  const open = () => {
    setName('')
    setPublic(false)
    setProxy(false)
    setRegistryID('')
    setNamespace('')
    setFreshness('300')
    setShownError(false)
    dialog.current?.showModal()
  }

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setShownError(true)
    const input = proxy
      ? {
          name: name.trim(),
          public: isPublic,
          proxyRegistryID: registryID,
          proxyNamespace: namespace.trim(),
          proxyFreshnessSeconds: Number(freshness),
        }
      : { name: name.trim(), public: isPublic }
    const result = await create({ input })
    if (result.error || !result.data) return
    dialog.current?.close()
    onCreated(result.data.createProject.name)
  }

  return (
    <>
      <button type="button" className="primary" onClick={open}>
        New project
      </button>
      <dialog ref={dialog} aria-labelledby="new-project-title" className="dialog">
        <form onSubmit={onSubmit}>
          <h2 id="new-project-title">New project</h2>
          {shownError && error && <ErrorMessage error={error} />}
          <label htmlFor="new-project-name">Name</label>
          <input
            id="new-project-name"
            name="name"
            required
            autoComplete="off"
            aria-describedby="new-project-name-help"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <p id="new-project-name-help" className="help">
            Lower-case letters and digits, separated by “.”, “_” or “-”. It starts every repository name in the
            project and cannot be changed later.
          </p>
          <label className="check">
            <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} />
            Public: anyone may pull, even without logging in
          </label>
          {mayProxy && (
            <fieldset>
              <legend>Proxy cache</legend>
              <label className="check">
                <input
                  type="checkbox"
                  checked={proxy}
                  disabled={choices.length === 0}
                  aria-describedby="new-project-proxy-help"
                  onChange={(e) => setProxy(e.target.checked)}
                />
                Pull through to an upstream registry
              </label>
              <p id="new-project-proxy-help" className="help">
                {choices.length === 0
                  ? 'Add a registry endpoint (Administration → Replication) to make a proxy-cache project.'
                  : 'Pulls of what the project does not hold fetch it from the upstream and keep it; pushes are refused. The upstream cannot be changed later.'}
              </p>
              {proxy && (
                <>
                  <label htmlFor="new-project-endpoint">Registry endpoint</label>
                  <select
                    id="new-project-endpoint"
                    required
                    value={registryID}
                    onChange={(e) => setRegistryID(e.target.value)}
                  >
                    <option value="">Choose an endpoint…</option>
                    {choices.map((c) => (
                      <option key={c.id} value={c.id}>
                        {c.name} ({c.url})
                      </option>
                    ))}
                  </select>
                  <label htmlFor="new-project-namespace">Upstream namespace</label>
                  <input
                    id="new-project-namespace"
                    autoComplete="off"
                    aria-describedby="new-project-namespace-help"
                    value={namespace}
                    onChange={(e) => setNamespace(e.target.value)}
                  />
                  <p id="new-project-namespace-help" className="help">
                    Put before each repository name upstream, e.g. “library” for Docker Hub’s official images. Empty:
                    the name is used as it is.
                  </p>
                  <label htmlFor="new-project-freshness">Freshness (seconds)</label>
                  <input
                    id="new-project-freshness"
                    type="number"
                    min={0}
                    required
                    aria-describedby="new-project-freshness-help"
                    value={freshness}
                    onChange={(e) => setFreshness(e.target.value)}
                  />
                  <p id="new-project-freshness-help" className="help">
                    How long a cached tag is served without asking the upstream whether it moved.
                  </p>
                </>
              )}
            </fieldset>
          )}
          <div className="actions">
            <button type="button" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={fetching}>
              {fetching ? 'Creating…' : 'Create'}
            </button>
          </div>
        </form>
      </dialog>
    </>
  )
}
