import { useId, useMemo, useRef, useState, type FormEvent } from 'react'
import { Link } from 'react-router'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { useTitle } from '../../components/title'
import { useViewer } from '../../components/viewer'
import { graphql } from '../../gql'
import type { MyApiTokensQuery } from '../../gql/graphql'
import { RobotPermissionChoicesQuery } from '../robots/RobotDialog'
import { groupByResource, PermissionChecks, resourceName } from '../robots/permissions'
import { Example, SecretDialog } from '../robots/SecretDialog'

const MyAPITokensQuery = graphql(`
  query MyAPITokens {
    myAPITokens {
      id
      name
      scopes
      expiresAt
      revokedAt
      createdAt
      lastUsedAt
    }
  }
`)

const CreateAPITokenMutation = graphql(`
  mutation CreateAPIToken($input: CreateAPITokenInput!) {
    createAPIToken(input: $input) {
      secret
      token {
        id
        name
      }
    }
  }
`)

const RevokeAPITokenMutation = graphql(`
  mutation RevokeAPIToken($id: ID!) {
    revokeAPIToken(id: $id) {
      id
      revokedAt
    }
  }
`)

type Token = MyApiTokensQuery['myAPITokens'][number]

/**
 * TokensPage is "API tokens" in the user menu: the viewer's personal tokens, a form for a new one
 * (shown once) and revoking.
 */
export function TokensPage() {
  useTitle('API tokens')
  const { viewer } = useViewer()
  const person = !!viewer && !viewer.anonymous && viewer.kind === 'USER'
  const context = useMemo(() => ({ additionalTypenames: ['APIToken'] }), [])
  const [result, refetch] = useQuery({ query: MyAPITokensQuery, context, pause: !person })
  const tokens = result.data?.myAPITokens
  const [notice, setNotice] = useState<string | null>(null)
  const [shown, setShown] = useState<{ name: string; secret: string } | null>(null)
  const changed = (text: string) => {
    setNotice(text)
    refetch({ requestPolicy: 'network-only' })
  }
  const example = (secret: string) =>
    `curl -H "Authorization: Bearer ${secret}" -H 'Content-Type: application/json' -d '{"query":"{ me { user { username } } }"}' ${window.location.origin}/graphql`

  return (
    <>
      <div className="page-head">
        <h1>API tokens</h1>
        {person && (
          <NewTokenDialog
            onCreated={(c) => {
              setShown(c)
              changed(`API token ${c.name} created.`)
            }}
          />
        )}
      </div>
      {viewer && !person && (
        <div className="empty">
          <p>Only people who log in with a password have API tokens.</p>
          {viewer.anonymous && (
            <p>
              <Link to="/login?next=%2Ftokens">Log in</Link> to see yours.
            </p>
          )}
        </div>
      )}
      {person && (
        <>
          <p className="muted">
            A token acts as you, limited to the actions it names, in scripts: as <code>Authorization: Bearer …</code> on
            GraphQL and REST, or as the password with your username on the registry.
          </p>
          {notice && (
            <p className="notice" role="status">
              {notice}
            </p>
          )}
          {result.error && <ErrorMessage error={result.error} title="Could not load your API tokens" />}
          {!tokens && result.fetching && <p className="muted">Loading API tokens…</p>}
          {tokens && tokens.length === 0 && (
            <div className="empty">
              <p>You have no API tokens yet.</p>
              <p>Create one with “New API token” to call Berth from a script.</p>
            </div>
          )}
          {tokens && tokens.length > 0 && (
            <table>
              <caption className="sr-only">Your API tokens</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Status</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {tokens.map((t) => (
                  <TokenRow key={t.id} token={t} onChanged={changed} />
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      {shown && (
        <SecretDialog
          title={`API token ${shown.name} created`}
          secretLabel="Token"
          secret={shown.secret}
          testID="api-token"
          warning="Copy it now: Berth keeps only a hash and will not show it again. If it is lost, revoke it and create another."
          onClose={() => setShown(null)}
        >
          <Example title="Example request" command={example(shown.secret)} />
        </SecretDialog>
      )}
    </>
  )
}

/** scopeText writes a token's scopes as people read them. */
function ScopeList({ scopes }: { scopes: string[] }) {
  if (scopes.includes('*')) return <>Everything you may do</>
  const choices = scopes.map((s) => {
    const [resource, action] = s.split(':', 2)
    return { resource, action: action ?? '' }
  })
  return (
    <ul className="plain">
      {groupByResource(choices).map(([resource, cs]) => (
        <li key={resource}>
          {resourceName(resource)}: {cs.map((c) => c.action).join(', ')}
        </li>
      ))}
    </ul>
  )
}

function TokenRow({ token, onChanged }: { token: Token; onChanged: (notice: string) => void }) {
  const [, revoke] = useMutation(RevokeAPITokenMutation)
  const expired = !!token.expiresAt && new Date(token.expiresAt).getTime() < Date.now()
  return (
    <tr>
      <td>
        <strong>{token.name}</strong>
      </td>
      <td>
        <ScopeList scopes={token.scopes} />
      </td>
      <td>
        {token.revokedAt ? (
          <span className="badge status-failed">
            Revoked <Time value={token.revokedAt} />
          </span>
        ) : expired ? (
          <span className="badge status-failed">Expired</span>
        ) : (
          'Active'
        )}
      </td>
      <td>{token.expiresAt ? <Time value={token.expiresAt} compact /> : 'Never'}</td>
      <td>
        <Time value={token.lastUsedAt} compact />
      </td>
      <td>
        <Time value={token.createdAt} compact />
      </td>
      <td className="row-actions">
        {token.revokedAt ? (
          <span className="muted">–</span>
        ) : (
          <ConfirmButton
            label={`Revoke API token ${token.name}`}
            title={`Revoke API token ${token.name}?`}
            message={<p>Every script using it is refused from now on. This cannot be undone.</p>}
            confirmLabel="Revoke token"
            onConfirm={async () => {
              const res = await revoke({ id: token.id })
              if (res.error) return res.error
              onChanged(`API token ${token.name} revoked.`)
              return null
            }}
          >
            Revoke
          </ConfirmButton>
        )}
      </td>
    </tr>
  )
}

function NewTokenDialog({ onCreated }: { onCreated: (created: { name: string; secret: string }) => void }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const id = useId()
  const [name, setName] = useState('')
  const [everything, setEverything] = useState(false)
  const [selected, setSelected] = useState<string[]>([])
  const [days, setDays] = useState('30')
  const [problem, setProblem] = useState<string | null>(null)
  const [showError, setShowError] = useState(false)
  const [opened, setOpened] = useState(false)
  const [choices] = useQuery({ query: RobotPermissionChoicesQuery, pause: !opened })
  const [create, createToken] = useMutation(CreateAPITokenMutation)

  const open = () => {
    setOpened(true)
    setName('')
    setEverything(false)
    setSelected(['repository:pull'])
    setDays('30')
    setProblem(null)
    setShowError(false)
    dialog.current?.showModal()
  }

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    const expires = days.trim() === '' ? undefined : Number(days)
    if (expires !== undefined && (!Number.isInteger(expires) || expires < 1)) {
      setProblem('Enter the lifetime in whole days, or leave it empty for a token that never expires.')
      return
    }
    if (!everything && selected.length === 0) {
      setProblem('Choose at least one action, or everything you may do.')
      return
    }
    setProblem(null)
    setShowError(true)
    const result = await createToken({
      input: { name: name.trim(), scopes: everything ? ['*'] : selected, expiresInDays: expires },
    })
    if (result.error || !result.data) return
    dialog.current?.close()
    onCreated({ name: result.data.createAPIToken.token.name, secret: result.data.createAPIToken.secret })
  }

  return (
    <>
      <button type="button" className="primary" onClick={open}>
        New API token
      </button>
      <dialog ref={dialog} aria-labelledby={`${id}-title`} className="dialog wide">
        <form onSubmit={onSubmit}>
          <h2 id={`${id}-title`}>New API token</h2>
          {problem && <ErrorMessage error={problem} />}
          {showError && create.error && <ErrorMessage error={create.error} />}
          <label htmlFor={`${id}-name`}>Name</label>
          <input id={`${id}-name`} required autoComplete="off" placeholder="laptop" value={name} onChange={(e) => setName(e.target.value)} />
          <label htmlFor={`${id}-days`}>
            Expires after (days) <span className="muted">(optional)</span>
          </label>
          <input
            id={`${id}-days`}
            type="number"
            min={1}
            step={1}
            aria-describedby={`${id}-days-help`}
            value={days}
            onChange={(e) => setDays(e.target.value)}
          />
          <p id={`${id}-days-help`} className="help">
            Leave empty for a token that never expires.
          </p>
          <fieldset className="choices">
            <legend>Scopes</legend>
            <label className="check">
              <input type="radio" name={`${id}-scope`} checked={everything} onChange={() => setEverything(true)} />
              Everything I may do
            </label>
            <label className="check">
              <input type="radio" name={`${id}-scope`} checked={!everything} onChange={() => setEverything(false)} />
              Only the actions chosen
            </label>
          </fieldset>
          {choices.error && <ErrorMessage error={choices.error} title="Could not load the actions" />}
          {!everything && choices.data && (
            <PermissionChecks legend="Actions" choices={choices.data.robotPermissionChoices} selected={selected} onChange={setSelected} />
          )}
          <div className="actions">
            <button type="button" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={create.fetching}>
              {create.fetching ? 'Creating…' : 'Create'}
            </button>
          </div>
        </form>
      </dialog>
    </>
  )
}
