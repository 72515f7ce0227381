import { useMemo, useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { useTitle } from '../../components/title'
import { usePermissions } from '../../components/permissions'
import { graphql } from '../../gql'
import type { ScannersQuery } from '../../gql/graphql'
import { AdminHead } from '../admin/AdminHead'
import { AddScannerDialog } from './AddScannerDialog'
import { SystemAllowlist } from './SystemAllowlist'

const ScannersQueryDocument = graphql(`
  query Scanners {
    scanners {
      id
      name
      description
      url
      builtin
      auth
      skipCertVerify
      isDefault
      enabled
      vendor
      version
    }
    advisoryCount
  }
`)

const SetDefaultScannerMutation = graphql(`
  mutation SetDefaultScanner($id: ID!) {
    setDefaultScanner(id: $id) {
      id
      isDefault
    }
  }
`)

const SetScannerEnabledMutation = graphql(`
  mutation SetScannerEnabled($id: ID!, $enabled: Boolean!) {
    setScannerEnabled(id: $id, enabled: $enabled) {
      id
      enabled
    }
  }
`)

const RemoveScannerMutation = graphql(`
  mutation RemoveScanner($id: ID!) {
    removeScanner(id: $id)
  }
`)

const ScanAllMutation = graphql(`
  mutation ScanAll {
    scanAll
  }
`)

type Scanner = ScannersQuery['scanners'][number]

/**
 * ScannersPage is Administration → Scanners: the built-in scanner and the pluggable adapters
 * registered beside it, which one projects use by default, a scan of every image on demand, and
 * the CVE allowlist every project's pull prevention honours.
 */
export function ScannersPage() {
  useTitle('Scanners')
  const system = usePermissions(null)
  const [notice, setNotice] = useState<string | null>(null)
  const context = useMemo(() => ({ additionalTypenames: ['Scanner'] }), [])
  const [result, refetch] = useQuery({ query: ScannersQueryDocument, context, pause: !system.can('scanner:read') })
  const [scanAll, runScanAll] = useMutation(ScanAllMutation)
  const [scanAllTried, setScanAllTried] = useState(false)
  const scanners = result.data?.scanners
  const changed = (text: string) => {
    setNotice(text)
    refetch({ requestPolicy: 'network-only' })
  }

  const startScanAll = async () => {
    setScanAllTried(true)
    setNotice(null)
    const res = await runScanAll({})
    if (!res.error) setNotice('Every image is queued for a scan by its project’s scanner. Results appear on the artifacts as scans finish.')
  }

  return (
    <AdminHead
      title="Scanners"
      read="scanner:read"
      manage="scanner:create"
      actions={
        <div className="button-row">
          <button type="button" onClick={startScanAll} disabled={scanAll.fetching}>
            {scanAll.fetching ? 'Queuing…' : 'Scan all now'}
          </button>
          <AddScannerDialog onAdded={(name) => changed(`Scanner ${name} added.`)} />
        </div>
      }
    >
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {scanAllTried && scanAll.error && <ErrorMessage error={scanAll.error} title="Could not start the scan of every image" />}
      {result.error && <ErrorMessage error={result.error} title="Could not load the scanners" />}
      {!scanners && result.fetching && <p className="muted">Loading scanners…</p>}
      {scanners && scanners.length === 0 && (
        <div className="empty">
          <p>No scanners are registered. Add a pluggable scanner adapter to scan images.</p>
        </div>
      )}
      {scanners && scanners.length > 0 && (
        <table>
          <caption className="sr-only">Scanners</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Endpoint</th>
              <th scope="col">Vendor and version</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {scanners.map((s) => (
              <ScannerRow key={s.id} scanner={s} advisoryCount={result.data?.advisoryCount ?? 0} onChanged={changed} />
            ))}
          </tbody>
        </table>
      )}
      {scanners && (
        <p className="help">
          Projects use the default scanner unless their settings choose another. A disabled scanner takes no scans.
        </p>
      )}
      {system.can('system-cve-allowlist:update') && <SystemAllowlist />}
    </AdminHead>
  )
}

function ScannerRow({
  scanner: s,
  advisoryCount,
  onChanged,
}: {
  scanner: Scanner
  advisoryCount: number
  onChanged: (notice: string) => void
}) {
  const [setDefault, setDefaultScanner] = useMutation(SetDefaultScannerMutation)
  const [setEnabled, setScannerEnabled] = useMutation(SetScannerEnabledMutation)
  const [, removeScanner] = useMutation(RemoveScannerMutation)
  const [tried, setTried] = useState<'default' | 'enabled' | null>(null)
  const error = tried === 'default' ? setDefault.error : tried === 'enabled' ? setEnabled.error : undefined

  const makeDefault = async () => {
    setTried('default')
    const res = await setDefaultScanner({ id: s.id })
    if (res.error) return
    setTried(null)
    onChanged(`${s.name} is now the default scanner.`)
  }
  const toggle = async () => {
    setTried('enabled')
    const res = await setScannerEnabled({ id: s.id, enabled: !s.enabled })
    if (res.error) return
    setTried(null)
    onChanged(s.enabled ? `${s.name} is disabled.` : `${s.name} is enabled.`)
  }

  return (
    <tr>
      <td>
        <strong>{s.name}</strong>{' '}
        {s.isDefault && <span className="badge public">Default</span>}
        {s.description && <div className="muted">{s.description}</div>}
      </td>
      <td>
        {s.builtin ? (
          <>
            <div>Built-in</div>
            <div className="muted">
              {advisoryCount.toLocaleString()} {advisoryCount === 1 ? 'advisory' : 'advisories'} in its database
            </div>
          </>
        ) : (
          <>
            <code>{s.url}</code>
            <div className="muted">
              {s.auth === 'NONE' ? 'No authentication' : `${authName(s.auth)} authentication`}
              {s.skipCertVerify && ', TLS not verified'}
            </div>
          </>
        )}
      </td>
      <td>
        {s.vendor || s.version ? (
          <>
            {s.vendor} {s.version && <span className="muted">{s.version}</span>}
          </>
        ) : (
          <span className="muted">–</span>
        )}
      </td>
      <td>{s.enabled ? <span className="badge status-succeeded">Enabled</span> : <span className="badge status-failed">Disabled</span>}</td>
      <td className="row-actions">
        <div className="button-row">
          {!s.isDefault && (
            <button type="button" onClick={makeDefault} disabled={setDefault.fetching || !s.enabled} title={s.enabled ? undefined : 'Enable it first'}>
              Set default<span className="sr-only"> scanner {s.name}</span>
            </button>
          )}
          <button type="button" onClick={toggle} disabled={setEnabled.fetching}>
            {s.enabled ? 'Disable' : 'Enable'}
            <span className="sr-only"> scanner {s.name}</span>
          </button>
          {!s.builtin && !s.isDefault && (
            <ConfirmButton
              label={`Remove scanner ${s.name}`}
              title={`Remove scanner ${s.name}?`}
              message={
                <p>
                  Its scan reports are deleted, and projects that chose it use the default scanner again. Disabling it
                  instead keeps them.
                </p>
              }
              confirmLabel="Remove scanner"
              onConfirm={async () => {
                const res = await removeScanner({ id: s.id })
                if (res.error) return res.error
                onChanged(`Scanner ${s.name} removed.`)
                return null
              }}
            >
              Remove
            </ConfirmButton>
          )}
        </div>
        {error && <ErrorMessage error={error} title="Could not change the scanner" />}
      </td>
    </tr>
  )
}

function authName(auth: Scanner['auth']): string {
  switch (auth) {
    case 'BASIC':
      return 'Basic'
    case 'BEARER':
      return 'Bearer token'
    case 'API_KEY':
      return 'API key'
    default:
      return auth
  }
}
