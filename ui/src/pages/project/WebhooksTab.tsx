import { useEffect, useMemo, useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { graphql } from '../../gql'
import type { WebhookPolicyFieldsFragment } from '../../gql/graphql'
import { useProject } from './context'
import { DeliveryHistory } from './DeliveryHistory'
import { WebhookPolicyDialog } from './WebhookPolicyDialog'
import { eventTypeNames, payloadFormatNames } from './webhookEvents'

const WebhookPoliciesQuery = graphql(`
  query WebhookPolicies($projectID: ID!) {
    webhookPolicies(projectID: $projectID) {
      ...WebhookPolicyFields
    }
  }
`)

const ToggleWebhookPolicyMutation = graphql(`
  mutation ToggleWebhookPolicy($id: ID!, $enabled: Boolean!) {
    updateWebhookPolicy(id: $id, input: { enabled: $enabled }) {
      id
      enabled
    }
  }
`)

const DeleteWebhookPolicyMutation = graphql(`
  mutation DeleteWebhookPolicy($id: ID!) {
    deleteWebhookPolicy(id: $id)
  }
`)

const TestWebhookPolicyMutation = graphql(`
  mutation TestWebhookPolicy($id: ID!) {
    testWebhookPolicy(id: $id) {
      id
      status
    }
  }
`)

/**
 * WebhooksTab lists the project's webhook policies, each with its controls and delivery history.
 * Maintainers see them; project admins may also create, change, test and delete them.
 */
export function WebhooksTab() {
  const { project, access } = useProject()
  const context = useMemo(() => ({ additionalTypenames: ['WebhookPolicy'] }), [])
  const [result, refetch] = useQuery({ query: WebhookPoliciesQuery, variables: { projectID: project.id }, context })
  const policies = result.data?.webhookPolicies
  const [notice, setNotice] = useState<string | null>(null)
  const reload = () => refetch({ requestPolicy: 'network-only' })

  return (
    <>
      <div className="section-head">
        <h2>Webhooks</h2>
        {access.manageWebhooks && (
          <WebhookPolicyDialog
            projectID={project.id}
            onSaved={(name) => {
              setNotice(`Webhook ${name} created.`)
              reload()
            }}
          />
        )}
      </div>
      <p className="muted">
        Berth sends a signed HTTP POST to each enabled policy’s endpoint when one of its events happens in {project.name}.
      </p>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {result.error && <ErrorMessage error={result.error} title="Could not load the webhooks" />}
      {!policies && result.fetching && <p className="muted">Loading webhooks…</p>}
      {policies && policies.length === 0 && (
        <div className="empty">
          <p>No webhooks yet.</p>
          {access.manageWebhooks && <p>Create one with “New webhook” to notify another system of pushes, pulls and deletions.</p>}
        </div>
      )}
      {policies?.map((p) => (
        <PolicyCard
          key={p.id}
          policy={p}
          manage={access.manageWebhooks}
          projectID={project.id}
          onChanged={(text) => {
            setNotice(text)
            reload()
          }}
        />
      ))}
    </>
  )
}

interface PolicyCardProps {
  policy: WebhookPolicyFieldsFragment
  manage: boolean
  projectID: string
  onChanged: (notice: string) => void
}

function PolicyCard({ policy, manage, projectID, onChanged }: PolicyCardProps) {
  const [showHistory, setShowHistory] = useState(false)
  const [refreshKey, setRefreshKey] = useState(0)
  const [toggle, togglePolicy] = useMutation(ToggleWebhookPolicyMutation)
  const [test, testPolicy] = useMutation(TestWebhookPolicyMutation)
  const [, deletePolicy] = useMutation(DeleteWebhookPolicyMutation)
  const [testSent, setTestSent] = useState(false)
  // The switch moves at once and goes back if the server refuses.
  const [enabled, setEnabled] = useState(policy.enabled)
  useEffect(() => setEnabled(policy.enabled), [policy.enabled])
  const headingID = `webhook-${policy.id}-title`
  const historyID = `webhook-${policy.id}-history`

  const sendTest = async () => {
    setTestSent(false)
    const result = await testPolicy({ id: policy.id })
    if (result.error) return
    setTestSent(true)
    setShowHistory(true)
    setRefreshKey((k) => k + 1)
  }

  return (
    <section className="panel policy" aria-labelledby={headingID}>
      <div className="policy-head">
        <h3 id={headingID}>{policy.name}</h3>
        {manage ? (
          <label className="check switch">
            <input
              type="checkbox"
              role="switch"
              checked={enabled}
              disabled={toggle.fetching}
              onChange={async (e) => {
                const on = e.target.checked
                setEnabled(on)
                const result = await togglePolicy({ id: policy.id, enabled: on })
                if (result.error) setEnabled(policy.enabled)
                else onChanged(`Webhook ${policy.name} ${on ? 'enabled' : 'disabled'}.`)
              }}
            />
            Enabled
          </label>
        ) : (
          <span className={policy.enabled ? 'badge status-succeeded' : 'badge'}>{policy.enabled ? 'Enabled' : 'Disabled'}</span>
        )}
      </div>
      {policy.description && <p>{policy.description}</p>}
      <dl className="facts small">
        <div>
          <dt>Endpoint</dt>
          <dd>
            <code>{policy.address}</code>
          </dd>
        </div>
        <div>
          <dt>Events</dt>
          <dd>
            <ul className="tags">
              {policy.eventTypes.map((t) => (
                <li key={t} className="tag">
                  {eventTypeNames[t] ?? t}
                </li>
              ))}
            </ul>
          </dd>
        </div>
        <div>
          <dt>Format</dt>
          <dd>{payloadFormatNames[policy.payloadFormat]}</dd>
        </div>
        {policy.skipCertVerify && (
          <div>
            <dt>TLS</dt>
            <dd>Certificate not verified</dd>
          </div>
        )}
        <div>
          <dt>Updated</dt>
          <dd>
            <Time value={policy.updatedAt} compact />
          </dd>
        </div>
      </dl>
      {toggle.error && <ErrorMessage error={toggle.error} title="Could not change the webhook" />}
      {test.error && <ErrorMessage error={test.error} title="Could not send a test event" />}
      {testSent && (
        <p className="notice" role="status">
          Test event queued: watch its delivery below.
        </p>
      )}
      <div className="button-row">
        <button
          type="button"
          aria-expanded={showHistory}
          aria-controls={historyID}
          onClick={() => setShowHistory(!showHistory)}
        >
          {showHistory ? 'Hide deliveries' : 'Show deliveries'}
          <span className="sr-only"> of {policy.name}</span>
        </button>
        {manage && (
          <>
            <button type="button" onClick={sendTest} disabled={test.fetching}>
              Send test event<span className="sr-only"> to {policy.name}</span>
            </button>
            <WebhookPolicyDialog
              projectID={projectID}
              policy={policy}
              onSaved={(name) => onChanged(`Webhook ${name} saved.`)}
            />
            <ConfirmButton
              label={`Delete webhook ${policy.name}`}
              title={`Delete webhook ${policy.name}?`}
              message={<p>Berth stops notifying {policy.address}, and the delivery history is deleted with the policy.</p>}
              confirmLabel="Delete webhook"
              onConfirm={async () => {
                const result = await deletePolicy({ id: policy.id })
                if (result.error) return result.error
                onChanged(`Webhook ${policy.name} deleted.`)
                return null
              }}
            >
              Delete
            </ConfirmButton>
          </>
        )}
      </div>
      {showHistory && (
        <div id={historyID} className="history">
          <h4>Deliveries</h4>
          <DeliveryHistory policyID={policy.id} policyName={policy.name} refreshKey={refreshKey} />
        </div>
      )}
    </section>
  )
}
