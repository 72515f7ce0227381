import { useId, useRef, useState, type FormEvent } from 'react'
import { useMutation } from 'urql'
import { CopyButton } from '../../components/CopyButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'
import type { EventType, WebhookPolicyFieldsFragment, WebhookPolicyPayloadFormat } from '../../gql/graphql'
import { eventTypeNames, payloadFormatNames, webhookEventTypes } from './webhookEvents'

graphql(`
  fragment WebhookPolicyFields on WebhookPolicy {
    id
    name
    description
    enabled
    eventTypes
    address
    skipCertVerify
    payloadFormat
    createdAt
    updatedAt
  }
`)

const CreateWebhookPolicyMutation = graphql(`
  mutation CreateWebhookPolicy($input: CreateWebhookPolicyInput!) {
    createWebhookPolicy(input: $input) {
      secret
      policy {
        ...WebhookPolicyFields
      }
    }
  }
`)

const UpdateWebhookPolicyMutation = graphql(`
  mutation UpdateWebhookPolicy($id: ID!, $input: UpdateWebhookPolicyInput!) {
    updateWebhookPolicy(id: $id, input: $input) {
      ...WebhookPolicyFields
    }
  }
`)

interface Props {
  projectID: string
  /** The policy to edit; without one the dialog creates a new policy. */
  policy?: WebhookPolicyFieldsFragment
  onSaved: (name: string) => void
}

/**
 * WebhookPolicyDialog is the "New webhook" (or "Edit") button and its modal form. After a policy is
 * created the dialog shows its signing secret, once: the server never tells it again.
 */
export function WebhookPolicyDialog({ projectID, policy, onSaved }: Props) {
  const dialog = useRef<HTMLDialogElement>(null)
  const id = useId()
  const editing = !!policy
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const [address, setAddress] = useState('')
  const [types, setTypes] = useState<EventType[]>([])
  const [format, setFormat] = useState<WebhookPolicyPayloadFormat>('HARBOR')
  const [authHeader, setAuthHeader] = useState('')
  const [clearAuth, setClearAuth] = useState(false)
  const [skipVerify, setSkipVerify] = useState(false)
  const [enabled, setEnabled] = useState(true)
  const [secret, setSecret] = useState<string | null>(null)
  const [problem, setProblem] = useState<string | null>(null)
  const [create, createPolicy] = useMutation(CreateWebhookPolicyMutation)
  const [update, updatePolicy] = useMutation(UpdateWebhookPolicyMutation)
  const [showError, setShowError] = useState(false)
  const error = editing ? update.error : create.error
  const fetching = create.fetching || update.fetching

  const open = () => {
    setName(policy?.name ?? '')
    setDescription(policy?.description ?? '')
    setAddress(policy?.address ?? '')
    setTypes(policy?.eventTypes ?? ['ARTIFACT_PUSHED'])
    setFormat(policy?.payloadFormat ?? 'HARBOR')
    setAuthHeader('')
    setClearAuth(false)
    setSkipVerify(policy?.skipCertVerify ?? false)
    setEnabled(policy?.enabled ?? true)
    setSecret(null)
    setProblem(null)
    setShowError(false)
    dialog.current?.showModal()
  }

  // A policy made elsewhere may list types this form does not offer; keep them visible and kept.
  const offered = [...webhookEventTypes, ...(policy?.eventTypes ?? []).filter((t) => !webhookEventTypes.includes(t))]

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    if (types.length === 0) {
      setProblem('Choose at least one event type.')
      return
    }
    setProblem(null)
    setShowError(true)
    const common = {
      name: name.trim(),
      description,
      address: address.trim(),
      eventTypes: offered.filter((t) => types.includes(t)),
      payloadFormat: format,
      skipCertVerify: skipVerify,
      enabled,
    }
    if (policy) {
      const input = { ...common, authHeader: clearAuth ? '' : authHeader || undefined }
      const result = await updatePolicy({ id: policy.id, input })
      if (result.error || !result.data) return
      dialog.current?.close()
      onSaved(result.data.updateWebhookPolicy.name)
      return
    }
    const result = await createPolicy({ input: { ...common, projectID, authHeader: authHeader || undefined } })
    if (result.error || !result.data) return
    setSecret(result.data.createWebhookPolicy.secret)
    onSaved(result.data.createWebhookPolicy.policy.name)
  }

  const toggleType = (t: EventType, on: boolean) =>
    setTypes((old) => (on ? [...old.filter((x) => x !== t), t] : old.filter((x) => x !== t)))

  const title = editing ? `Edit webhook ${policy.name}` : 'New webhook'
  return (
    <>
      {editing ? (
        <button type="button" onClick={open} aria-label={`Edit webhook ${policy.name}`}>
          Edit
        </button>
      ) : (
        <button type="button" className="primary" onClick={open}>
          New webhook
        </button>
      )}
      {/* The secret leaves memory with the dialog. */}
      <dialog ref={dialog} aria-labelledby={`${id}-title`} className="dialog wide" onClose={() => setSecret(null)}>
        {secret ? (
          <form method="dialog" className="secret">
            <h2 id={`${id}-title`}>Webhook created</h2>
            <p>
              Receivers verify each delivery with this secret: the <code>X-Berth-Signature-256</code> header is{' '}
              <code>sha256=</code> followed by the hex HMAC-SHA256 of the body.
            </p>
            <h3 id={`${id}-secret-title`} className="label">
              Signing secret
            </h3>
            <div className="command" role="group" aria-labelledby={`${id}-secret-title`}>
              <code data-testid="webhook-secret">
                {secret}
              </code>
              <CopyButton text={secret} label="Copy signing secret" />
            </div>
            <p className="warning" role="note">
              <strong>Shown only once.</strong> Copy it now: Berth will not show it again. To get a new one, delete
              the policy and create it afresh.
            </p>
            <div className="actions">
              <button type="submit" className="primary" autoFocus>
                Done
              </button>
            </div>
          </form>
        ) : (
          <form onSubmit={onSubmit}>
            <h2 id={`${id}-title`}>{title}</h2>
            {problem && <ErrorMessage error={problem} />}
            {showError && error && <ErrorMessage error={error} />}
            <label htmlFor={`${id}-name`}>Name</label>
            <input id={`${id}-name`} required autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />
            <label htmlFor={`${id}-description`}>
              Description <span className="muted">(optional)</span>
            </label>
            <input id={`${id}-description`} autoComplete="off" value={description} onChange={(e) => setDescription(e.target.value)} />
            <label htmlFor={`${id}-address`}>Endpoint URL</label>
            <input
              id={`${id}-address`}
              type="url"
              required
              placeholder="https://example.com/hooks/berth"
              autoComplete="off"
              value={address}
              onChange={(e) => setAddress(e.target.value)}
            />
            <fieldset className="choices">
              <legend>Event types</legend>
              {offered.map((t) => (
                <label key={t} className="check">
                  <input type="checkbox" checked={types.includes(t)} onChange={(e) => toggleType(t, e.target.checked)} />
                  {eventTypeNames[t]}
                </label>
              ))}
            </fieldset>
            <fieldset className="choices">
              <legend>Payload format</legend>
              {(Object.keys(payloadFormatNames) as WebhookPolicyPayloadFormat[]).map((f) => (
                <label key={f} className="check">
                  <input type="radio" name={`${id}-format`} value={f} checked={format === f} onChange={() => setFormat(f)} />
                  {payloadFormatNames[f]}
                </label>
              ))}
            </fieldset>
            <label htmlFor={`${id}-auth`}>
              Authorization header <span className="muted">(optional)</span>
            </label>
            <input
              id={`${id}-auth`}
              autoComplete="off"
              aria-describedby={`${id}-auth-help`}
              placeholder={editing ? 'Leave empty to keep the current one' : 'Bearer …'}
              value={authHeader}
              disabled={clearAuth}
              onChange={(e) => setAuthHeader(e.target.value)}
            />
            <p id={`${id}-auth-help`} className="help">
              Sent as the <code>Authorization</code> header of every delivery.
              {editing && ' Berth does not show the current value.'}
            </p>
            {editing && (
              <label className="check">
                <input type="checkbox" checked={clearAuth} onChange={(e) => setClearAuth(e.target.checked)} />
                Send no Authorization header
              </label>
            )}
            <label className="check">
              <input type="checkbox" checked={skipVerify} onChange={(e) => setSkipVerify(e.target.checked)} />
              Skip TLS certificate verification
            </label>
            <label className="check">
              <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
              Enabled
            </label>
            <div className="actions">
              <button type="button" onClick={() => dialog.current?.close()}>
                Cancel
              </button>
              <button type="submit" className="primary" disabled={fetching}>
                {fetching ? 'Saving…' : editing ? 'Save' : 'Create'}
              </button>
            </div>
          </form>
        )}
      </dialog>
    </>
  )
}
