import { useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'

const LabelsQuery = graphql(`
  query ProjectLabels($projectID: ID!) {
    labels(projectID: $projectID) {
      id
      name
      description
      color
      projectID
    }
  }
`)

const AddArtifactLabelMutation = graphql(`
  mutation AddArtifactLabel($artifactID: ID!, $labelID: ID!) {
    addArtifactLabel(artifactID: $artifactID, labelID: $labelID) {
      id
      labels {
        id
      }
    }
  }
`)

const RemoveArtifactLabelMutation = graphql(`
  mutation RemoveArtifactLabel($artifactID: ID!, $labelID: ID!) {
    removeArtifactLabel(artifactID: $artifactID, labelID: $labelID) {
      id
      labels {
        id
      }
    }
  }
`)

interface Label {
  id: string
  name: string
  description: string
  color: string
}

interface Props {
  artifactID: string
  projectID: string
  labels: Label[]
  canEdit: boolean
  onChanged: () => void
}

// A label's colour comes from whoever made it: use it only when it is a plain hex colour.
function swatch(color: string) {
  return /^#[0-9a-fA-F]{3,8}$/.test(color) ? { borderLeftColor: color } : undefined
}

/**
 * ArtifactLabels shows the labels on an artifact and, for those who may label, lets them add one of
 * the system's or the project's labels, or take one off.
 */
export function ArtifactLabels({ artifactID, projectID, labels, canEdit, onChanged }: Props) {
  const [available] = useQuery({ query: LabelsQuery, variables: { projectID }, pause: !canEdit })
  const [choice, setChoice] = useState('')
  const [add, addLabel] = useMutation(AddArtifactLabelMutation)
  const [remove, removeLabel] = useMutation(RemoveArtifactLabelMutation)
  const [showError, setShowError] = useState(false)
  const applied = new Set(labels.map((l) => l.id))
  const options = (available.data?.labels ?? []).filter((l) => !applied.has(l.id))
  const sorted = [...labels].sort((a, b) => a.name.localeCompare(b.name))

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    if (!choice) return
    setShowError(true)
    const result = await addLabel({ artifactID, labelID: choice })
    if (result.error) return
    setShowError(false)
    setChoice('')
    onChanged()
  }

  const onRemove = async (labelID: string) => {
    setShowError(true)
    const result = await removeLabel({ artifactID, labelID })
    if (result.error) return
    setShowError(false)
    onChanged()
  }

  return (
    <section aria-labelledby="labels-title">
      <h2 id="labels-title">Labels</h2>
      {sorted.length === 0 ? (
        <p className="muted">No labels.</p>
      ) : (
        <ul className="tags big" aria-label="Labels">
          {sorted.map((l) => (
            <li key={l.id} className="tag label" style={swatch(l.color)} title={l.description || undefined}>
              <span className="chip-name">{l.name}</span>
              {canEdit && (
                <button
                  type="button"
                  className="chip-remove"
                  aria-label={`Remove label ${l.name}`}
                  disabled={remove.fetching}
                  onClick={() => onRemove(l.id)}
                >
                  ×
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {showError && (add.error || remove.error) && (
        <ErrorMessage error={(add.error ?? remove.error)!} title="Could not change the labels" />
      )}
      {canEdit && available.error && <ErrorMessage error={available.error} title="Could not load the labels" />}
      {canEdit && available.data && available.data.labels.length === 0 && (
        <p className="help">No labels are defined for this project yet: project admins and maintainers add them under the project’s Settings.</p>
      )}
      {canEdit && options.length > 0 && (
        <form className="inline-form" onSubmit={onSubmit}>
          <div className="field">
            <label htmlFor="add-label">Add a label</label>
            <select id="add-label" value={choice} onChange={(e) => setChoice(e.target.value)} required>
              <option value="">Choose a label…</option>
              {options.map((l) => (
                <option key={l.id} value={l.id}>
                  {l.name}
                  {l.description ? ` – ${l.description}` : ''}
                </option>
              ))}
            </select>
          </div>
          <button type="submit" disabled={add.fetching || !choice}>
            Add label
          </button>
        </form>
      )}
    </section>
  )
}
