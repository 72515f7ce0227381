import { useEffect, useMemo, useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'
import type { ReplicationDirection, ReplicationPolicyInput, ReplicationTrigger } from '../../gql/graphql'
import { RunStatus } from '../cleanup/RunStatus'
import { EndpointsDocument } from './EndpointsSection'

const PoliciesDocument = graphql(`
  query ReplicationPolicies {
    replicationPolicies(limit: 100) {
      total
      items {
        id
        name
        direction
        trigger
        enabled
        destNamespace
        destNamespaceReplaceCount
        registry {
          id
          name
        }
        filter {
          repository
          tag
          tagExclude
        }
        lastExecution {
          id
          status
          total
          succeeded
          failed
        }
      }
    }
  }
`)

const CreatePolicyMutation = graphql(`
  mutation CreateReplicationPolicy($input: ReplicationPolicyInput!) {
    createReplicationPolicy(input: $input) {
      id
      name
    }
  }
`)

const DeletePolicyMutation = graphql(`
  mutation DeleteReplicationPolicy($id: ID!) {
    deleteReplicationPolicy(id: $id)
  }
`)

const StartMutation = graphql(`
  mutation StartReplication($policyID: ID!) {
    startReplication(policyID: $policyID) {
      id
      status
    }
  }
`)

const flattening = [
  { value: 0, label: 'No flattening (namespace/project/repo)' },
  { value: 1, label: 'Flatten 1 level (namespace/repo)' },
  { value: 2, label: 'Flatten 2 levels' },
  { value: -1, label: 'Flatten all levels (namespace/last-part)' },
]

/** PoliciesSection lists replication policies with their last execution, starts them, and adds new ones. */
export function PoliciesSection({ onStarted, ended }: { onStarted: () => void; ended: number }) {
  const context = useMemo(() => ({ additionalTypenames: ['ReplicationPolicy', 'ReplicationExecution'] }), [])
  const [list, refetch] = useQuery({ query: PoliciesDocument, context })
  useEffect(() => {
    if (ended > 0) refetch({ requestPolicy: 'network-only' })
  }, [ended, refetch])
  const [, remove] = useMutation(DeletePolicyMutation)
  const [started, start] = useMutation(StartMutation)

  return (
    <section aria-labelledby="policies-title" className="panel">
      <h2 id="policies-title">Replication policies</h2>
      {list.error && <ErrorMessage error={list.error} title="Could not load the policies" />}
      {started.error && <ErrorMessage error={started.error} title="Could not start" />}
      {list.data && list.data.replicationPolicies.items.length === 0 && <p className="muted">No replication policy yet.</p>}
      {list.data && list.data.replicationPolicies.items.length > 0 && (
        <table>
          <caption className="sr-only">Replication policies</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Direction</th>
              <th scope="col">Filters</th>
              <th scope="col">Trigger</th>
              <th scope="col">Last execution</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.replicationPolicies.items.map((p) => (
              <tr key={p.id}>
                <td>
                  {p.name}
                  {!p.enabled && <span className="badge">disabled</span>}
                </td>
                <td>
                  {p.direction === 'PUSH' ? `push to ${p.registry.name}` : `pull from ${p.registry.name}`}
                  {p.destNamespace && <div className="muted">into {p.destNamespace}</div>}
                </td>
                <td>
                  {p.filter.repository || 'all repositories'}
                  {p.filter.tag && (
                    <div className="muted">
                      tags {p.filter.tagExclude ? 'except' : ''} {p.filter.tag}
                    </div>
                  )}
                </td>
                <td>{p.trigger.toLowerCase().replace('_', '-')}</td>
                <td>
                  {p.lastExecution ? (
                    <>
                      <RunStatus status={p.lastExecution.status} />{' '}
                      <span className="muted">
                        {p.lastExecution.succeeded}/{p.lastExecution.total} copied
                        {p.lastExecution.failed > 0 && `, ${p.lastExecution.failed} failed`}
                      </span>
                    </>
                  ) : (
                    <span className="muted">never run</span>
                  )}
                </td>
                <td className="row-actions">
                  <div className="button-row">
                    <button
                      type="button"
                      disabled={started.fetching || !p.enabled}
                      onClick={async () => {
                        const r = await start({ policyID: p.id })
                        if (!r.error) onStarted()
                      }}
                    >
                      Replicate now<span className="sr-only"> {p.name}</span>
                    </button>
                    <ConfirmButton
                      label={`Delete policy ${p.name}`}
                      title={`Delete ${p.name}?`}
                      message={<p>Its execution history goes with it.</p>}
                      confirmLabel="Delete"
                      onConfirm={async () => {
                        const res = await remove({ id: p.id })
                        return res.error ?? null
                      }}
                    >
                      Delete
                    </ConfirmButton>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <NewPolicy />
    </section>
  )
}

const blank = (): ReplicationPolicyInput => ({
  name: '',
  direction: 'PUSH',
  registryID: '',
  filter: { repository: '', tag: '', tagExclude: false },
  destNamespace: '',
  destNamespaceReplaceCount: 0,
  trigger: 'MANUAL',
  cron: '',
  override: true,
  replicateDeletion: false,
  speedKB: 0,
})

function NewPolicy() {
  const [endpoints] = useQuery({ query: EndpointsDocument })
  const [form, setForm] = useState<ReplicationPolicyInput>(blank)
  const [created, create] = useMutation(CreatePolicyMutation)
  const [notice, setNotice] = useState<string | null>(null)
  const set = (patch: Partial<ReplicationPolicyInput>) => setForm({ ...form, ...patch })
  const filter = form.filter ?? {}
  const registryID = form.registryID || endpoints.data?.registryEndpoints.items[0]?.id || ''

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setNotice(null)
    const r = await create({ input: { ...form, registryID, cron: form.trigger === 'SCHEDULED' ? form.cron : undefined } })
    if (r.error) return
    setNotice(`Policy ${r.data?.createReplicationPolicy.name} added.`)
    setForm(blank())
  }

  return (
    <form className="settings" aria-label="New replication policy" onSubmit={onSubmit}>
      <h3>New policy</h3>
      <div className="field">
        <label htmlFor="rp-name">Name</label>
        <input id="rp-name" required maxLength={255} autoComplete="off" value={form.name} onChange={(e) => set({ name: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor="rp-direction">Direction</label>
        <select id="rp-direction" value={form.direction} onChange={(e) => set({ direction: e.target.value as ReplicationDirection })}>
          <option value="PUSH">Push-based: from this registry to the endpoint</option>
          <option value="PULL">Pull-based: from the endpoint to this registry</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor="rp-endpoint">Endpoint</label>
        <select id="rp-endpoint" required value={registryID} onChange={(e) => set({ registryID: e.target.value })}>
          {endpoints.data?.registryEndpoints.items.map((ep) => (
            <option key={ep.id} value={ep.id}>
              {ep.name} ({ep.url})
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="rp-repo">Repository filter</label>
        <input
          id="rp-repo"
          placeholder="library/**"
          aria-describedby="rp-repo-help"
          value={filter.repository ?? ''}
          onChange={(e) => set({ filter: { ...filter, repository: e.target.value } })}
        />
        <p id="rp-repo-help" className="help">
          A doublestar glob on the full repository name: *, **, ?, [abc], {'{a,b}'}. Empty: every repository.
        </p>
      </div>
      <div className="field">
        <label htmlFor="rp-tag">Tag filter</label>
        <input id="rp-tag" placeholder="v*" value={filter.tag ?? ''} onChange={(e) => set({ filter: { ...filter, tag: e.target.value } })} />
      </div>
      <label className="check">
        <input type="checkbox" checked={!!filter.tagExclude} onChange={(e) => set({ filter: { ...filter, tagExclude: e.target.checked } })} />
        Exclude the matching tags instead
      </label>
      <div className="field">
        <label htmlFor="rp-ns">Destination namespace</label>
        <input id="rp-ns" placeholder="mirror" value={form.destNamespace ?? ''} onChange={(e) => set({ destNamespace: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor="rp-flatten">Flattening</label>
        <select
          id="rp-flatten"
          value={form.destNamespaceReplaceCount ?? 0}
          onChange={(e) => set({ destNamespaceReplaceCount: Number(e.target.value) })}
        >
          {flattening.map((f) => (
            <option key={f.value} value={f.value}>
              {f.label}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="rp-trigger">Trigger</label>
        <select id="rp-trigger" value={form.trigger ?? 'MANUAL'} onChange={(e) => set({ trigger: e.target.value as ReplicationTrigger })}>
          <option value="MANUAL">Manual</option>
          <option value="SCHEDULED">Scheduled (cron)</option>
          <option value="EVENT_BASED">On push, tag and delete</option>
        </select>
      </div>
      {form.trigger === 'SCHEDULED' && (
        <>
          <div className="field">
            <label htmlFor="rp-cron">Cron expression (UTC)</label>
            <input id="rp-cron" required placeholder="0 3 * * *" value={form.cron ?? ''} onChange={(e) => set({ cron: e.target.value })} />
          </div>
        </>
      )}
      <label className="check">
        <input type="checkbox" checked={!!form.override} onChange={(e) => set({ override: e.target.checked })} />
        Override tags that exist on the destination
      </label>
      <label className="check">
        <input type="checkbox" checked={!!form.replicateDeletion} onChange={(e) => set({ replicateDeletion: e.target.checked })} />
        Delete remotely what is deleted here
      </label>
      <div className="field">
        <label htmlFor="rp-speed">Bandwidth limit (KB/s, 0 for none)</label>
        <input id="rp-speed" type="number" min={0} value={form.speedKB ?? 0} onChange={(e) => set({ speedKB: Number(e.target.value) })} />
      </div>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {created.error && <ErrorMessage error={created.error} title="Could not add the policy" />}
      <div className="actions">
        <button type="submit" className="primary" disabled={created.fetching || !registryID}>
          Add policy
        </button>
      </div>
    </form>
  )
}
