import { useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'
import { useProject } from './context'

const RulesQuery = graphql(`
  query ImmutableRules($projectID: ID!) {
    immutableRules(projectID: $projectID) {
      id
      repositoryPattern
      repositoryExclude
      tagPattern
      tagExclude
      disabled
    }
  }
`)

const CreateRuleMutation = graphql(`
  mutation CreateImmutableRule($projectID: ID!, $input: ImmutableRuleInput!) {
    createImmutableRule(projectID: $projectID, input: $input) {
      id
    }
  }
`)

const UpdateRuleMutation = graphql(`
  mutation UpdateImmutableRule($id: ID!, $input: ImmutableRuleInput!) {
    updateImmutableRule(id: $id, input: $input) {
      id
      disabled
    }
  }
`)

const DeleteRuleMutation = graphql(`
  mutation DeleteImmutableRule($id: ID!) {
    deleteImmutableRule(id: $id)
  }
`)

/**
 * ImmutabilityTab lists the project's tag immutability rules: a tag they select cannot be moved to
 * another digest or deleted, through any door. Those who may manage them add, disable and delete rules.
 */
export function ImmutabilityTab() {
  const { project, access } = useProject()
  const [result, reload] = useQuery({ query: RulesQuery, variables: { projectID: project.id }, requestPolicy: 'cache-and-network' })
  const [create, createRule] = useMutation(CreateRuleMutation)
  const [update, updateRule] = useMutation(UpdateRuleMutation)
  const [remove, deleteRule] = useMutation(DeleteRuleMutation)
  const [repositoryPattern, setRepositoryPattern] = useState('**')
  const [tagPattern, setTagPattern] = useState('')
  const [tagExclude, setTagExclude] = useState(false)
  const rules = result.data?.immutableRules ?? []
  const refresh = () => reload({ requestPolicy: 'network-only' })

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    const res = await createRule({ projectID: project.id, input: { repositoryPattern, tagPattern, tagExclude } })
    if (res.error) return
    setTagPattern('')
    refresh()
  }

  return (
    <section aria-labelledby="immutable-title">
      <h2 id="immutable-title">Immutable tags</h2>
      <p className="muted">
        A tag a rule selects always names the same artifact: pushing another digest under it, deleting it, or deleting its
        artifact is refused. Re-pushing the same digest is allowed.
      </p>
      {result.error && <ErrorMessage error={result.error} title="Could not load the rules" />}
      {rules.length === 0 ? (
        <p className="muted">No rules: every tag can be moved.</p>
      ) : (
        <table aria-label="Immutability rules">
          <thead>
            <tr>
              <th scope="col">Repositories</th>
              <th scope="col">Tags</th>
              <th scope="col">State</th>
              {access.manageImmutable && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <tr key={r.id}>
                <td>
                  {r.repositoryExclude ? 'all but ' : ''}
                  <code>{r.repositoryPattern}</code>
                </td>
                <td>
                  {r.tagExclude ? 'all but ' : ''}
                  <code>{r.tagPattern}</code>
                </td>
                <td>{r.disabled ? 'Disabled' : 'Enabled'}</td>
                {access.manageImmutable && (
                  <td>
                    <button
                      type="button"
                      disabled={update.fetching}
                      onClick={async () => {
                        const { id, ...input } = r
                        await updateRule({ id, input: { ...input, disabled: !r.disabled } })
                        refresh()
                      }}
                    >
                      {r.disabled ? 'Enable' : 'Disable'}
                      <span className="sr-only"> the rule for tags {r.tagPattern}</span>
                    </button>{' '}
                    <button
                      type="button"
                      disabled={remove.fetching}
                      onClick={async () => {
                        await deleteRule({ id: r.id })
                        refresh()
                      }}
                    >
                      Delete<span className="sr-only"> the rule for tags {r.tagPattern}</span>
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {(update.error || remove.error) && <ErrorMessage error={(update.error ?? remove.error)!} title="Could not change the rule" />}
      {access.manageImmutable && (
        <form className="inline-form" onSubmit={onSubmit} aria-label="Add an immutability rule">
          <div className="field">
            <label htmlFor="imm-repos">Repositories (glob)</label>
            <input id="imm-repos" required value={repositoryPattern} onChange={(e) => setRepositoryPattern(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="imm-tags">Tags (glob)</label>
            <input id="imm-tags" required placeholder="v*" value={tagPattern} onChange={(e) => setTagPattern(e.target.value)} />
          </div>
          <div className="field">
            <label>
              <input type="checkbox" checked={tagExclude} onChange={(e) => setTagExclude(e.target.checked)} /> all tags but these
            </label>
          </div>
          <button type="submit" disabled={create.fetching}>
            Add rule
          </button>
          {create.error && <ErrorMessage error={create.error} title="Could not add the rule" />}
        </form>
      )}
    </section>
  )
}
