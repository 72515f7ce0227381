import { useRef, useState, type FormEvent } from 'react'
import { useMutation } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'

const CreateProjectMutation = graphql(`
  mutation CreateProject($input: CreateProjectInput!) {
    createProject(input: $input) {
      id
      name
      public
      repositoryCount
      createdAt
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
  const [{ fetching, error }, create] = useMutation(CreateProjectMutation)
  const [shownError, setShownError] = useState(false)

  const open = () => {
    setName('')
    setPublic(false)
    setShownError(false)
    dialog.current?.showModal()
  }

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setShownError(true)
    const result = await create({ input: { name: name.trim(), public: isPublic } })
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
