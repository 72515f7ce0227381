import { useEffect, useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { useTitle } from '../../components/title'
import { graphql } from '../../gql'
import type { AuditSettingsQuery, ForwardProtocol } from '../../gql/graphql'
import { AdminHead } from '../admin/AdminHead'

// What this page shows of the settings; the query and the mutation's answer both spread it.
graphql(`
  fragment AuditSettingsFields on AuditSettings {
    forwardEndpoint
    forwardProtocol
    skipDatabase
    logPulls
    forwarder {
      healthy
      behind
      lastError
      lastErrorAt
      lastSuccessAt
    }
  }
`)

const AuditSettingsDocument = graphql(`
  query AuditSettings {
    auditSettings {
      ...AuditSettingsFields
    }
  }
`)

const UpdateAuditSettingsMutation = graphql(`
  mutation UpdateAuditSettings($input: AuditSettingsInput!) {
    updateAuditSettings(input: $input) {
      ...AuditSettingsFields
    }
  }
`)

/** HEALTH_POLL_MS is how often the forwarder's state is read again while the page is open. */
const HEALTH_POLL_MS = 5000

type Settings = AuditSettingsQuery['auditSettings']

/**
 * ConfigurationPage is Administration → Configuration: where audit entries are forwarded (syslog
 * over TCP, UDP or TLS), whether they also stay in the database, whether pulls are logged, and the
 * forwarder's live health.
 */
export function ConfigurationPage() {
  useTitle('Configuration')
  const [result, refetch] = useQuery({ query: AuditSettingsDocument })

  // The forwarder's state changes without anyone touching this page: read it again now and then.
  useEffect(() => {
    const t = setInterval(() => refetch({ requestPolicy: 'network-only' }), HEALTH_POLL_MS)
    return () => clearInterval(t)
  }, [refetch])

  const settings = result.data?.auditSettings
  return (
    <AdminHead title="Configuration" read="configuration:read">
      {result.error && !settings && <ErrorMessage error={result.error} title="Could not load the configuration" />}
      {!settings && result.fetching && <p className="muted">Loading…</p>}
      {settings && (
        <>
          <ForwarderHealth settings={settings} />
          <AuditForm settings={settings} />
        </>
      )}
    </AdminHead>
  )
}

function ForwarderHealth({ settings }: { settings: Settings }) {
  const f = settings.forwarder
  if (!settings.forwardEndpoint) {
    return (
      <section className="panel" aria-label="Forwarder health">
        <h2>Audit forwarding</h2>
        <p className="muted">Audit entries are not forwarded: set an endpoint below to send them to syslog.</p>
      </section>
    )
  }
  return (
    <section className="panel" aria-label="Forwarder health">
      <h2>Audit forwarding</h2>
      <dl className="facts">
        <div>
          <dt>State</dt>
          <dd>
            {f.healthy ? (
              <span className="badge public">Healthy</span>
            ) : (
              <span className="badge status-failed">Failing</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Behind by</dt>
          <dd>
            {f.behind} {f.behind === 1 ? 'entry' : 'entries'}
          </dd>
        </div>
        <div>
          <dt>Last delivered</dt>
          <dd>
            <Time value={f.lastSuccessAt} />
          </dd>
        </div>
      </dl>
      {f.lastError && (
        <p className="warning" role="status">
          Last error (<Time value={f.lastErrorAt} />): {f.lastError}
          {settings.skipDatabase && ' Entries are kept in the database until the endpoint takes them.'}
        </p>
      )}
    </section>
  )
}

function AuditForm({ settings }: { settings: Settings }) {
  const [endpoint, setEndpoint] = useState(settings.forwardEndpoint)
  const [protocol, setProtocol] = useState<ForwardProtocol>(settings.forwardProtocol)
  const [skipDatabase, setSkipDatabase] = useState(settings.skipDatabase)
  const [logPulls, setLogPulls] = useState(settings.logPulls)
  const [{ fetching, error }, update] = useMutation(UpdateAuditSettingsMutation)
  const [saved, setSaved] = useState(false)
  const [showError, setShowError] = useState(false)

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setSaved(false)
    setShowError(true)
    const result = await update({
      input: { forwardEndpoint: endpoint.trim(), forwardProtocol: protocol, skipDatabase: skipDatabase && !!endpoint.trim(), logPulls },
    })
    if (result.error) return
    setShowError(false)
    setSaved(true)
  }

  return (
    <form className="panel settings" onSubmit={onSubmit} aria-label="Audit log settings">
      <h2>Audit log</h2>
      <div className="field">
        <label htmlFor="forward-endpoint">Syslog endpoint</label>
        <input
          id="forward-endpoint"
          value={endpoint}
          placeholder="host:port"
          onChange={(e) => {
            setEndpoint(e.target.value)
            setSaved(false)
          }}
        />
        <p className="help">Entries are sent as RFC 5424 messages. Leave empty to stop forwarding. The endpoint is dialled when you save.</p>
      </div>
      <div className="field">
        <label htmlFor="forward-protocol">Protocol</label>
        <select id="forward-protocol" value={protocol} onChange={(e) => setProtocol(e.target.value as ForwardProtocol)}>
          <option value="TCP">TCP</option>
          <option value="UDP">UDP</option>
          <option value="TLS">TLS</option>
        </select>
      </div>
      <label className="check">
        <input
          type="checkbox"
          checked={skipDatabase && !!endpoint.trim()}
          disabled={!endpoint.trim()}
          onChange={(e) => setSkipDatabase(e.target.checked)}
        />
        Skip the database
      </label>
      <p className="help">Entries are deleted once forwarded; until then (while the endpoint is down) they stay in the database, so none is lost. Needs an endpoint.</p>
      <label className="check">
        <input type="checkbox" checked={logPulls} onChange={(e) => setLogPulls(e.target.checked)} />
        Log pulls
      </label>
      <p className="help">Record every manifest pull. Turning it off spares busy registries the rows.</p>
      {saved && (
        <p className="notice" role="status">
          Configuration saved.
        </p>
      )}
      {showError && error && <ErrorMessage error={error} title="Could not save the configuration" />}
      <div className="actions">
        <button type="submit" className="primary" disabled={fetching}>
          {fetching ? 'Saving…' : 'Save configuration'}
        </button>
      </div>
    </form>
  )
}
