import { useMemo, useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { usePermissions } from '../../components/permissions'
import { graphql } from '../../gql'
import type { TrustedKeyKind } from '../../gql/graphql'

const TrustPolicyQuery = graphql(`
  query TrustPolicy($projectID: ID!) {
    project(id: $projectID) {
      id
      requireVerifiedSignature
    }
    trustedKeys(projectID: $projectID) {
      id
      name
      kind
      fingerprint
      projectID
      createdBy
      createdAt
    }
  }
`)

const AddTrustedKeyMutation = graphql(`
  mutation AddTrustedKey($input: AddTrustedKeyInput!) {
    addTrustedKey(input: $input) {
      id
    }
  }
`)

const DeleteTrustedKeyMutation = graphql(`
  mutation DeleteTrustedKey($id: ID!) {
    deleteTrustedKey(id: $id)
  }
`)

const RequireVerifiedMutation = graphql(`
  mutation RequireVerifiedSignature($id: ID!, $on: Boolean!) {
    updateProject(id: $id, input: { requireVerifiedSignature: $on }) {
      id
      requireVerifiedSignature
    }
  }
`)

/**
 * TrustPolicySection shows the keys the project verifies signatures with (its own and the
 * system-wide ones) and whether only verified images may be pulled. Project admins add and remove
 * the project's keys; those who may change the project's settings switch enforcement.
 */
export function TrustPolicySection({ projectID, canUpdateProject }: { projectID: string; canUpdateProject: boolean }) {
  const context = useMemo(() => ({ additionalTypenames: ['TrustedKey'] }), [])
  const [result, refetch] = useQuery({ query: TrustPolicyQuery, variables: { projectID }, context })
  const { can } = usePermissions(projectID)
  const editable = can('trust-policy:create')
  const [add, addKey] = useMutation(AddTrustedKeyMutation)
  const [, deleteKey] = useMutation(DeleteTrustedKeyMutation)
  const [enforce, setEnforce] = useMutation(RequireVerifiedMutation)
  const [name, setName] = useState('')
  const [kind, setKind] = useState<TrustedKeyKind>('PUBLIC_KEY')
  const [pem, setPem] = useState('')
  const [showError, setShowError] = useState(false)
  const keys = result.data?.trustedKeys
  // The switch shows the choice at once, and the server's answer once it has saved it.
  const [choice, setChoice] = useState<boolean | null>(null)
  const required = choice ?? result.data?.project?.requireVerifiedSignature ?? false
  const reload = () => refetch({ requestPolicy: 'network-only' })

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setShowError(true)
    const res = await addKey({ input: { projectID, name: name.trim(), kind, pem } })
    if (res.error) return
    setShowError(false)
    setName('')
    setPem('')
    reload()
  }

  return (
    <section className="panel settings" aria-labelledby="trust-title">
      <h3 id="trust-title">Signatures</h3>
      <p className="help">
        Berth verifies cosign and Notation signatures against these keys, offline. An image is VERIFIED when a signature
        checks out with one of them, UNVERIFIED when it is signed but none does, UNSIGNED otherwise.
      </p>
      {result.error && <ErrorMessage error={result.error} title="Could not load the trust policy" />}
      <label className="check">
        <input
          type="checkbox"
          checked={required}
          disabled={!canUpdateProject || enforce.fetching || !result.data}
          aria-describedby="require-verified-help"
          onChange={async (e) => {
            setChoice(e.target.checked)
            await setEnforce({ id: projectID, on: e.target.checked })
            setChoice(null)
            reload()
          }}
        />
        Only verified images may be pulled
      </label>
      <p id="require-verified-help" className="help indent">
        Pulls of images that are not VERIFIED are refused (412); signatures, attestations and SBOMs stay pullable.
      </p>
      {enforce.error && <ErrorMessage error={enforce.error} title="Could not change the setting" />}
      {keys && keys.length === 0 && <p className="muted">No trusted keys: every signature is UNVERIFIED.</p>}
      {keys && keys.length > 0 && (
        <table>
          <caption className="sr-only">Trusted keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Fingerprint</th>
              <th scope="col">Scope</th>
              {editable && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>{k.kind === 'PUBLIC_KEY' ? 'Public key' : 'Certificate'}</td>
                <td>
                  <code title={k.fingerprint}>{k.fingerprint.slice(0, 19)}…</code>
                </td>
                <td>{k.projectID ? 'This project' : 'System'}</td>
                {editable && (
                  <td>
                    {k.projectID && (
                      <ConfirmButton
                        label={`Remove key ${k.name}`}
                        title={`Stop trusting ${k.name}?`}
                        message={<p>Images it verified are verified again without it.</p>}
                        confirmLabel="Remove key"
                        onConfirm={async () => {
                          const res = await deleteKey({ id: k.id })
                          if (res.error) return res.error
                          reload()
                          return null
                        }}
                      >
                        Remove
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
        <form onSubmit={onSubmit}>
          <div className="field">
            <label htmlFor="key-name">Key name</label>
            <input id="key-name" required maxLength={64} autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="key-kind">Kind</label>
            <select id="key-kind" value={kind} onChange={(e) => setKind(e.target.value as TrustedKeyKind)}>
              <option value="PUBLIC_KEY">cosign public key (ECDSA, Ed25519, RSA)</option>
              <option value="CERTIFICATE">X.509 certificate or root (Notation, keyless cosign)</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="key-pem">PEM</label>
            <textarea
              id="key-pem"
              required
              rows={5}
              spellCheck={false}
              placeholder="-----BEGIN PUBLIC KEY-----"
              value={pem}
              onChange={(e) => setPem(e.target.value)}
            />
          </div>
          <div className="actions start">
            <button type="submit" disabled={add.fetching}>
              Trust this key
            </button>
          </div>
          {showError && add.error && <ErrorMessage error={add.error} title="Could not add the key" />}
        </form>
      )}
    </section>
  )
}
