import { useMemo, useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'
import type { RegistryEndpointInput } from '../../gql/graphql'

export const EndpointsDocument = graphql(`
  query RegistryEndpoints {
    registryEndpoints(limit: 100) {
      total
      items {
        id
        name
        description
        type
        url
        credentialType
        accessKey
        hasSecret
        insecure
      }
    }
  }
`)

const CreateEndpointMutation = graphql(`
  mutation CreateRegistryEndpoint($input: RegistryEndpointInput!) {
    createRegistryEndpoint(input: $input) {
      id
      name
    }
  }
`)

const DeleteEndpointMutation = graphql(`
  mutation DeleteRegistryEndpoint($id: ID!) {
    deleteRegistryEndpoint(id: $id)
  }
`)

const TestEndpointMutation = graphql(`
  mutation TestRegistryEndpoint($id: ID, $input: RegistryEndpointInput) {
    testRegistryEndpoint(id: $id, input: $input) {
      ok
      message
    }
  }
`)

const types = [
  { value: 'berth', label: 'Berth' },
  { value: 'harbor', label: 'Harbor' },
  { value: 'docker-registry', label: 'Docker Registry (any OCI Distribution registry)' },
  { value: 'docker-hub', label: 'Docker Hub' },
]

const credentialTypes = [
  { value: 'none', label: 'None (anonymous)' },
  { value: 'basic', label: 'User name and password' },
  { value: 'robot_secret', label: 'Robot account and secret' },
  { value: 'bearer', label: 'Bearer token' },
]

/**
 * EndpointsSection lists the registry endpoints with a Test connection per row (its answer in plain
 * words), and a form to register a new one, tested before it is saved if the admin wishes.
 */
export function EndpointsSection() {
  const context = useMemo(() => ({ additionalTypenames: ['RegistryEndpoint'] }), [])
  const [list] = useQuery({ query: EndpointsDocument, context })
  const [, remove] = useMutation(DeleteEndpointMutation)
  const [tested, test] = useMutation(TestEndpointMutation)
  const [answers, setAnswers] = useState<Record<string, string>>({})

  const testSaved = async (id: string) => {
    const r = await test({ id })
    const t = r.data?.testRegistryEndpoint
    setAnswers({ ...answers, [id]: t ? (t.ok ? 'Connection OK' : t.message) : (r.error?.message ?? 'Could not test') })
  }

  return (
    <section aria-labelledby="endpoints-title" className="panel">
      <h2 id="endpoints-title">Registry endpoints</h2>
      {list.error && <ErrorMessage error={list.error} title="Could not load the endpoints" />}
      {list.data && list.data.registryEndpoints.items.length === 0 && <p className="muted">No registry endpoint yet.</p>}
      {list.data && list.data.registryEndpoints.items.length > 0 && (
        <table>
          <caption className="sr-only">Registry endpoints</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">URL</th>
              <th scope="col">Credential</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.registryEndpoints.items.map((e) => (
              <tr key={e.id}>
                <td>{e.name}</td>
                <td>{e.type}</td>
                <td>
                  {e.url}
                  {e.insecure && <span className="badge">insecure</span>}
                </td>
                <td>{e.credentialType === 'none' ? 'none' : `${e.credentialType} ${e.accessKey}${e.hasSecret ? ' (secret stored)' : ''}`}</td>
                <td className="row-actions">
                  <div className="button-row">
                    <button type="button" disabled={tested.fetching} onClick={() => void testSaved(e.id)}>
                      Test connection<span className="sr-only"> to {e.name}</span>
                    </button>
                    <ConfirmButton
                      label={`Delete endpoint ${e.name}`}
                      title={`Delete ${e.name}?`}
                      message={<p>Policies that use it must be deleted first.</p>}
                      confirmLabel="Delete"
                      onConfirm={async () => {
                        const res = await remove({ id: e.id })
                        return res.error ?? null
                      }}
                    >
                      Delete
                    </ConfirmButton>
                  </div>
                  {answers[e.id] && (
                    <p role="status" className={answers[e.id] === 'Connection OK' ? 'notice' : 'error'}>
                      {answers[e.id]}
                    </p>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <NewEndpoint />
    </section>
  )
}

function NewEndpoint() {
  const [form, setForm] = useState<RegistryEndpointInput>({ name: '', type: 'docker-registry', url: '', credentialType: 'none' })
  const [created, create] = useMutation(CreateEndpointMutation)
  const [tested, test] = useMutation(TestEndpointMutation)
  const [answer, setAnswer] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const set = (patch: Partial<RegistryEndpointInput>) => {
    setForm({ ...form, ...patch })
    setAnswer(null)
  }

  const onTest = async () => {
    const r = await test({ input: form })
    const t = r.data?.testRegistryEndpoint
    setAnswer(t ? (t.ok ? 'Connection OK' : t.message) : (r.error?.message ?? 'Could not test'))
  }
  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setNotice(null)
    const r = await create({ input: form })
    if (r.error) return
    setAnswer(null)
    setNotice(`Endpoint ${r.data?.createRegistryEndpoint.name} added.`)
    setForm({ name: '', type: 'docker-registry', url: '', credentialType: 'none' })
  }

  return (
    <form className="settings" aria-label="New registry endpoint" onSubmit={onSubmit}>
      <h3>New endpoint</h3>
      <div className="field">
        <label htmlFor="ep-name">Name</label>
        <input id="ep-name" required maxLength={255} autoComplete="off" value={form.name} onChange={(e) => set({ name: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor="ep-type">Type</label>
        <select id="ep-type" value={form.type} onChange={(e) => set({ type: e.target.value })}>
          {types.map((t) => (
            <option key={t.value} value={t.value}>
              {t.label}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="ep-url">URL</label>
        <input id="ep-url" type="url" required placeholder="https://registry.example.com" value={form.url} onChange={(e) => set({ url: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor="ep-cred">Credential</label>
        <select id="ep-cred" value={form.credentialType ?? 'none'} onChange={(e) => set({ credentialType: e.target.value })}>
          {credentialTypes.map((t) => (
            <option key={t.value} value={t.value}>
              {t.label}
            </option>
          ))}
        </select>
      </div>
      {form.credentialType !== 'none' && (
        <>
          {form.credentialType !== 'bearer' && (
            <>
              <div className="field">
                <label htmlFor="ep-key">Access key (user or robot name)</label>
                <input id="ep-key" autoComplete="off" value={form.accessKey ?? ''} onChange={(e) => set({ accessKey: e.target.value })} />
              </div>
            </>
          )}
          <div className="field">
            <label htmlFor="ep-secret">{form.credentialType === 'bearer' ? 'Token' : 'Secret'}</label>
            <input
              id="ep-secret"
              type="password"
              autoComplete="off"
              value={form.accessSecret ?? ''}
              onChange={(e) => set({ accessSecret: e.target.value })}
            />
          </div>
        </>
      )}
      <label className="check">
        <input type="checkbox" checked={!!form.insecure} onChange={(e) => set({ insecure: e.target.checked })} />
        Skip TLS certificate verification
      </label>
      {answer && (
        <p role="status" className={answer === 'Connection OK' ? 'notice' : 'error'}>
          {answer}
        </p>
      )}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {created.error && <ErrorMessage error={created.error} title="Could not add the endpoint" />}
      <div className="button-row">
        <button type="button" disabled={tested.fetching || !form.url} onClick={() => void onTest()}>
          Test connection
        </button>
        <button type="submit" className="primary" disabled={created.fetching}>
          Add endpoint
        </button>
      </div>
    </form>
  )
}
