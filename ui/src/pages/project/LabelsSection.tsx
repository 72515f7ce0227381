import { useMemo, useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'

const SettingsLabelsQuery = graphql(`
  query SettingsLabels($projectID: ID!) {
    labels(projectID: $projectID) {
      id
      name
      description
      color
      projectID
    }
  }
`)

const CreateLabelMutation = graphql(`
  mutation CreateLabel($input: CreateLabelInput!) {
    createLabel(input: $input) {
      id
      name
    }
  }
`)

const DeleteLabelMutation = graphql(`
  mutation DeleteLabel($id: ID!) {
    deleteLabel(id: $id)
  }
`)

/**
 * LabelsSection lists the labels artifacts in the project can carry: the system's (read-only here)
 * and the project's own, which project admins and maintainers create and delete.
 */
export function LabelsSection({ projectID, editable }: { projectID: string; editable: boolean }) {
  const context = useMemo(() => ({ additionalTypenames: ['Label'] }), [])
  const [result, refetch] = useQuery({ query: SettingsLabelsQuery, variables: { projectID }, context })
  const [create, createLabel] = useMutation(CreateLabelMutation)
  const [, deleteLabel] = useMutation(DeleteLabelMutation)
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const [color, setColor] = useState('#1f5fa8')
  const [showError, setShowError] = useState(false)
  const labels = result.data?.labels
  const reload = () => refetch({ requestPolicy: 'network-only' })

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setShowError(true)
    const res = await createLabel({ input: { projectID, name: name.trim(), description, color } })
    if (res.error) return
    setShowError(false)
    setName('')
    setDescription('')
    reload()
  }

  return (
    <section className="panel" aria-labelledby="labels-title">
      <h3 id="labels-title">Labels</h3>
      <p className="help">Labels mark artifacts (“approved”, “release”); add them on an artifact’s page.</p>
      {result.error && <ErrorMessage error={result.error} title="Could not load the labels" />}
      {labels && labels.length === 0 && <p className="muted">No labels yet.</p>}
      {labels && labels.length > 0 && (
        <table>
          <caption className="sr-only">Labels</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Description</th>
              <th scope="col">Scope</th>
              {editable && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {labels.map((l) => (
              <tr key={l.id}>
                <td>
                  <span className="tag label" style={/^#[0-9a-fA-F]{3,8}$/.test(l.color) ? { borderLeftColor: l.color } : undefined}>
                    {l.name}
                  </span>
                </td>
                <td>{l.description || <span className="muted">–</span>}</td>
                <td>{l.projectID ? 'This project' : 'System'}</td>
                {editable && (
                  <td>
                    {l.projectID && (
                      <ConfirmButton
                        label={`Delete label ${l.name}`}
                        title={`Delete label ${l.name}?`}
                        message={<p>The label is taken off every artifact that carries it.</p>}
                        confirmLabel="Delete label"
                        onConfirm={async () => {
                          const res = await deleteLabel({ id: l.id })
                          if (res.error) return res.error
                          reload()
                          return null
                        }}
                      >
                        Delete
                      </ConfirmButton>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editable && (
        <form className="inline-form" onSubmit={onSubmit}>
          <div className="field">
            <label htmlFor="label-name">Label name</label>
            <input id="label-name" required maxLength={128} autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="label-description">Description</label>
            <input id="label-description" autoComplete="off" value={description} onChange={(e) => setDescription(e.target.value)} />
          </div>
          <div className="field narrow">
            <label htmlFor="label-color">Colour</label>
            <input id="label-color" type="color" value={color} onChange={(e) => setColor(e.target.value)} />
          </div>
          <button type="submit" disabled={create.fetching}>
            Add label
          </button>
          {showError && create.error && <ErrorMessage error={create.error} title="Could not add the label" />}
        </form>
      )}
    </section>
  )
}
