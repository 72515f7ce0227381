import { useEffect, useRef, useState, type FormEvent } from 'react'
import { useMutation } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'
import type { PingScannerMutation, ScannerAuth, ScannerInput } from '../../gql/graphql'

const PingScannerMutationDocument = graphql(`
  mutation PingScanner($input: ScannerInput!) {
    pingScanner(input: $input) {
      name
      vendor
      version
      consumes
      produces
    }
  }
`)

const AddScannerMutation = graphql(`
  mutation AddScanner($input: ScannerInput!) {
    addScanner(input: $input) {
      id
      name
    }
  }
`)

const authKinds: { value: ScannerAuth; label: string; credential: string; help: string }[] = [
  { value: 'NONE', label: 'None', credential: '', help: '' },
  { value: 'BASIC', label: 'Basic', credential: 'Username and password', help: 'As user:password; sent as HTTP Basic authentication.' },
  { value: 'BEARER', label: 'Bearer token', credential: 'Token', help: 'Sent as “Authorization: Bearer …”.' },
  { value: 'API_KEY', label: 'API key', credential: 'API key', help: 'Sent in the X-ScannerAdapter-API-Key header.' },
]

type Metadata = PingScannerMutation['pingScanner']

/**
 * AddScannerDialog is the "Add scanner" button and its form: the adapter's address and credentials,
 * a Test connection that shows what the adapter says about itself (or why it could not be read),
 * then Add, which reads the metadata again and registers the scanner.
 */
export function AddScannerDialog({ onAdded }: { onAdded: (name: string) => void }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const [url, setURL] = useState('')
  const [auth, setAuth] = useState<ScannerAuth>('NONE')
  const [credential, setCredential] = useState('')
  const [skipCertVerify, setSkipCertVerify] = useState(false)
  const [ping, pingScanner] = useMutation(PingScannerMutationDocument)
  const [add, addScanner] = useMutation(AddScannerMutation)
  const [metadata, setMetadata] = useState<Metadata | null>(null)
  const [shown, setShown] = useState<'ping' | 'add' | null>(null)
  const kind = authKinds.find((k) => k.value === auth) ?? authKinds[0]
  const outcome = useRef<HTMLDivElement>(null)

  // The test's answer sits below the fields: bring it into view in a short window.
  useEffect(() => {
    if (metadata || ping.error) outcome.current?.scrollIntoView({ block: 'nearest' })
  }, [metadata, ping.error])

  const open = () => {
    setName('')
    setDescription('')
    setURL('')
    setAuth('NONE')
    setCredential('')
    setSkipCertVerify(false)
    setMetadata(null)
    setShown(null)
    dialog.current?.showModal()
  }

  // Any change makes the last test's answer stale.
  const edit = <T,>(set: (v: T) => void) => (v: T) => {
    set(v)
    setMetadata(null)
    setShown(null)
  }

  const input = (): ScannerInput => ({
    name: name.trim(),
    description: description.trim() || undefined,
    url: url.trim(),
    auth,
    accessCredential: auth === 'NONE' ? undefined : credential,
    skipCertVerify,
  })

  const test = async () => {
    setMetadata(null)
    setShown('ping')
    const result = await pingScanner({ input: input() })
    if (result.data) setMetadata(result.data.pingScanner)
  }

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setShown('add')
    const result = await addScanner({ input: input() })
    if (result.error || !result.data) return
    setCredential('')
    dialog.current?.close()
    onAdded(result.data.addScanner.name)
  }

  return (
    <>
      <button type="button" className="primary" onClick={open}>
        Add scanner
      </button>
      <dialog ref={dialog} aria-labelledby="add-scanner-title" className="dialog wide" onClose={() => setCredential('')}>
        <form onSubmit={onSubmit}>
          <h2 id="add-scanner-title">Add scanner</h2>
          <label htmlFor="scanner-name">Name</label>
          <input id="scanner-name" required maxLength={255} autoComplete="off" value={name} onChange={(e) => edit(setName)(e.target.value)} />
          <label htmlFor="scanner-description">
            Description <span className="muted">(optional)</span>
          </label>
          <input id="scanner-description" autoComplete="off" value={description} onChange={(e) => setDescription(e.target.value)} />
          <label htmlFor="scanner-url">Adapter URL</label>
          <input
            id="scanner-url"
            type="url"
            required
            placeholder="http://trivy-adapter:8080"
            aria-describedby="scanner-url-help"
            value={url}
            onChange={(e) => edit(setURL)(e.target.value)}
          />
          <p id="scanner-url-help" className="help">
            The base address of a pluggable scanner adapter (protocol v1.1); Berth appends /api/v1.
          </p>
          <label htmlFor="scanner-auth">Authentication</label>
          <select id="scanner-auth" value={auth} onChange={(e) => edit(setAuth)(e.target.value as ScannerAuth)}>
            {authKinds.map((k) => (
              <option key={k.value} value={k.value}>
                {k.label}
              </option>
            ))}
          </select>
          {auth !== 'NONE' && (
            <>
              <label htmlFor="scanner-credential">{kind.credential}</label>
              <input
                id="scanner-credential"
                type="password"
                required
                autoComplete="off"
                aria-describedby="scanner-credential-help"
                placeholder={auth === 'BASIC' ? 'user:password' : undefined}
                value={credential}
                onChange={(e) => edit(setCredential)(e.target.value)}
              />
              <p id="scanner-credential-help" className="help">
                {kind.help} It is stored and never shown again.
              </p>
            </>
          )}
          <label className="check">
            <input type="checkbox" checked={skipCertVerify} onChange={(e) => edit(setSkipCertVerify)(e.target.checked)} />
            Skip TLS certificate verification (self-signed adapters only)
          </label>

          <div ref={outcome}>
            {shown === 'ping' && ping.fetching && (
              <p className="muted" role="status">
                Reading the adapter’s metadata…
              </p>
            )}
            {shown === 'ping' && ping.error && <ErrorMessage error={ping.error} title="Test connection failed" />}
            {shown === 'ping' && metadata && (
              <div className="notice scanner-metadata" role="status">
                <strong>Connected.</strong> The adapter says:
                <dl>
                  <dt>Scanner</dt>
                  <dd>{metadata.name}</dd>
                  <dt>Vendor</dt>
                  <dd>{metadata.vendor}</dd>
                  <dt>Version</dt>
                  <dd>{metadata.version}</dd>
                  <dt>Scans</dt>
                  <dd>
                    {metadata.consumes.length === 0 ? (
                      <span className="muted">nothing listed</span>
                    ) : (
                      <ul>
                        {metadata.consumes.map((c) => (
                          <li key={c}>
                            <code>{c}</code>
                          </li>
                        ))}
                      </ul>
                    )}
                  </dd>
                </dl>
              </div>
            )}
            {shown === 'add' && add.error && <ErrorMessage error={add.error} title="Could not add the scanner" />}
          </div>
          <div className="actions">
            <button type="button" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
            <button type="button" onClick={test} disabled={ping.fetching || !name.trim() || !url.trim()}>
              {ping.fetching ? 'Testing…' : 'Test connection'}
            </button>
            <button type="submit" className="primary" disabled={add.fetching}>
              {add.fetching ? 'Adding…' : 'Add'}
            </button>
          </div>
        </form>
      </dialog>
    </>
  )
}
