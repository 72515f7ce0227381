import { useState, type FormEvent } from 'react'
import { useClient, useMutation } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'

const CreateTagMutation = graphql(`
  mutation CreateTag($artifactID: ID!, $name: String!) {
    createTag(artifactID: $artifactID, name: $name) {
      id
      name
    }
  }
`)

const TagOwnerQuery = graphql(`
  query TagOwner($repository: String!, $tag: String!) {
    artifact(repository: $repository, reference: $tag) {
      id
      digest
    }
  }
`)

const DeleteTagMutation = graphql(`
  mutation DeleteTag($id: ID!) {
    deleteTag(id: $id)
  }
`)

interface Props {
  artifactID: string
  /** The repository's name: a tag that already names another artifact there is moved only after asking. */
  repository: string
  tags: { id: string; name: string; pushTime: string }[]
  canCreate: boolean
  canDelete: boolean
  onChanged: () => void
}

/** ArtifactTags lists an artifact's tags, with a form to add one and a button to delete each. */
export function ArtifactTags({ artifactID, repository, tags, canCreate, canDelete, onChanged }: Props) {
  const client = useClient()
  const [moving, setMoving] = useState<{ tag: string; from: string } | null>(null)
  const [name, setName] = useState('')
  const [create, createTag] = useMutation(CreateTagMutation)
  const [, deleteTag] = useMutation(DeleteTagMutation)
  const [showError, setShowError] = useState(false)
  const [notice, setNotice] = useState<string | null>(null)
  const sorted = [...tags].sort((a, b) => a.name.localeCompare(b.name))

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setNotice(null)
    const tag = name.trim()
    // A tag that names another artifact of the repository would move silently: ask first.
    const owner = await client.query(TagOwnerQuery, { repository, tag }, { requestPolicy: 'network-only' }).toPromise()
    const other = owner.data?.artifact
    if (other && other.id !== artifactID) {
      setMoving({ tag, from: other.digest })
      return
    }
    await add(tag)
  }

  const add = async (tag: string) => {
    setMoving(null)
    setShowError(true)
    const result = await createTag({ artifactID, name: tag })
    if (result.error) return
    setShowError(false)
    setName('')
    setNotice(`Tag ${tag} now points at this artifact.`)
    onChanged()
  }

  return (
    <section aria-labelledby="tags-title">
      <h2 id="tags-title">Tags</h2>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {sorted.length === 0 ? (
        <p className="muted">Untagged: pull it by digest.</p>
      ) : (
        <ul className="tags big" aria-label="Tags">
          {sorted.map((t) => (
            <li key={t.id} className="tag">
              <span className="chip-name" title={`Pushed ${t.pushTime}`}>
                {t.name}
              </span>
              {canDelete && (
                <ConfirmButton
                  className="chip-remove"
                  label={`Delete tag ${t.name}`}
                  title={`Delete tag ${t.name}?`}
                  message={
                    <p>
                      The tag goes; the artifact stays, reachable by digest{sorted.length > 1 ? ' and its other tags' : ''}.
                    </p>
                  }
                  confirmLabel="Delete tag"
                  onConfirm={async () => {
                    const result = await deleteTag({ id: t.id })
                    if (result.error) return result.error
                    setNotice(`Tag ${t.name} deleted.`)
                    onChanged()
                    return null
                  }}
                >
                  ×
                </ConfirmButton>
              )}
            </li>
          ))}
        </ul>
      )}
      {moving && (
        <div role="alertdialog" aria-labelledby="move-tag-title" aria-describedby="move-tag-text" className="confirm-inline">
          <h3 id="move-tag-title">Move tag {moving.tag}?</h3>
          <p id="move-tag-text">
            Tag {moving.tag} now names another artifact ({moving.from.slice(0, 19)}…). Adding it here moves it: pulls of{' '}
            {moving.tag} will get this artifact instead.
          </p>
          <button type="button" onClick={() => void add(moving.tag)}>
            Move tag
          </button>{' '}
          <button type="button" onClick={() => setMoving(null)}>
            Cancel
          </button>
        </div>
      )}
      {canCreate && (
        <form className="inline-form" onSubmit={onSubmit}>
          <div className="field">
            <label htmlFor="new-tag">New tag</label>
            <input
              id="new-tag"
              required
              autoComplete="off"
              pattern="[A-Za-z0-9_][A-Za-z0-9._\-]{0,127}"
              title="Letters, digits, “_”, “.” and “-”, up to 128, not starting with “.” or “-”"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <button type="submit" disabled={create.fetching}>
            {create.fetching ? 'Adding…' : 'Add tag'}
          </button>
          {showError && create.error && <ErrorMessage error={create.error} title="Could not add the tag" />}
        </form>
      )}
    </section>
  )
}
