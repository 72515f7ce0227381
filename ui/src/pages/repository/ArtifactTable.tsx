import { SignatureBadge } from '../../components/SignatureBadge'
import { Fragment, useState } from 'react'
import { Link } from 'react-router'
import { useMutation } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage, errorText } from '../../components/ErrorMessage'
import type { ProjectAccess } from '../../components/permissions'
import { SortHeader } from '../../components/SortHeader'
import type { ArtifactSort } from './sort'
import { CopyButton } from '../../components/CopyButton'
import { SeverityBar } from '../../components/SeverityBar'
import { Time } from '../../components/Time'
import { formatBytes, registryHost, shortDigest } from '../../format'
import { graphql } from '../../gql'
import type { ArtifactRowFragment } from '../../gql/graphql'
import { artifactPath } from '../../paths'

// Fragment masking is off (codegen.ts), so the page's query hands these fields over as they are.
graphql(`
  fragment ArtifactRow on Artifact {
    id
    digest
    mediaType
    artifactType
    size
    pushTime
    pullTime
    pullCount
    tags {
      id
      name
    }
    signed
    signatureStatus
    signatureKey
    signatureReason
    platforms {
      os
      architecture
      variant
    }
    accessoryArtifacts {
      id
      digest
      artifactType
      size
    }
    scanOverview {
      status
      total
      summary {
        critical
        high
        medium
        low
        none
        unknown
      }
    }
  }
`)

const ScanArtifactMutation = graphql(`
  mutation ScanSelectedArtifact($id: ID!) {
    scanArtifact(id: $id) {
      id
    }
  }
`)

const DeleteSelectedArtifactMutation = graphql(`
  mutation DeleteSelectedArtifact($id: ID!) {
    deleteArtifact(id: $id)
  }
`)

/**
 * ArtifactTable shows artifacts with their tags (and an index's platforms), digest, size, scan and
 * push time, and how to pull them; accessories sit under their subject. Columns sort on the server
 * (onSort); rows may be selected to scan or delete them together.
 */
export function ArtifactTable({
  repository,
  artifacts,
  sort,
  onSort,
  access,
  onChanged,
}: {
  repository: string
  artifacts: ArtifactRowFragment[]
  sort: ArtifactSort
  onSort: (s: ArtifactSort) => void
  access: ProjectAccess
  onChanged: () => void
}) {
  const [open, setOpen] = useState<string | null>(null)
  const [selected, setSelected] = useState<Set<string>>(new Set())
  const [bulkError, setBulkError] = useState<string | null>(null)
  const [bulkNotice, setBulkNotice] = useState<string | null>(null)
  const [, scan] = useMutation(ScanArtifactMutation)
  const [, remove] = useMutation(DeleteSelectedArtifactMutation)
  const selectable = access.scan || access.deleteArtifact
  const chosen = artifacts.filter((a) => selected.has(a.id))
  const toggle = (id: string) => {
    const next = new Set(selected)
    if (next.has(id)) next.delete(id)
    else next.add(id)
    setSelected(next)
  }
  const allChosen = artifacts.length > 0 && chosen.length === artifacts.length
  const header = (field: ArtifactSort['field'], label: string, className?: string) => (
    <SortHeader
      field={field}
      current={sort.field}
      direction={sort.direction}
      onSort={(f, d) => onSort({ field: f, direction: d })}
      className={className}
    >
      {label}
    </SortHeader>
  )

  // Each selected artifact in turn; the first refusal stops and is shown with how many were done.
  const runBulk = async (what: 'scan' | 'delete'): Promise<string | null> => {
    setBulkError(null)
    setBulkNotice(null)
    let done = 0
    for (const a of chosen) {
      const res = what === 'scan' ? await scan({ id: a.id }) : await remove({ id: a.id }, { additionalTypenames: ['Artifact'] })
      if (res.error) {
        const msg = `${what === 'scan' ? 'Scanning' : 'Deleting'} ${a.tags?.[0]?.name ?? shortDigest(a.digest)} failed after ${done} of ${chosen.length}: ${errorText(res.error)}`
        setBulkError(msg)
        onChanged()
        return msg
      }
      done++
    }
    setSelected(new Set())
    setBulkNotice(what === 'scan' ? `Scan queued for ${done} artifact${done === 1 ? '' : 's'}.` : `Deleted ${done} artifact${done === 1 ? '' : 's'}.`)
    onChanged()
    return null
  }

  return (
    <>
      {selectable && (
        <div className="toolbar bulk" role="group" aria-label="Selected artifacts">
          <span className="muted" aria-live="polite">
            {chosen.length} selected
          </span>
          {access.scan && (
            <button type="button" disabled={chosen.length === 0} onClick={() => void runBulk('scan')}>
              Scan selected
            </button>
          )}
          {access.deleteArtifact && (
            <ConfirmButton
              disabled={chosen.length === 0}
              title={`Delete ${chosen.length} artifact${chosen.length === 1 ? '' : 's'}?`}
              message={
                <>
                  <p>These artifacts, their tags and accessories are deleted. This cannot be undone.</p>
                  <ul>
                    {chosen.map((a) => (
                      <li key={a.id}>
                        <code>{shortDigest(a.digest)}</code> {(a.tags ?? []).map((t) => t.name).join(', ')}
                      </li>
                    ))}
                  </ul>
                </>
              }
              confirmLabel="Delete selected"
              onConfirm={() => runBulk('delete')}
            >
              Delete selected
            </ConfirmButton>
          )}
        </div>
      )}
      {bulkError && <ErrorMessage error={bulkError} />}
      {bulkNotice && (
        <p className="notice" role="status">
          {bulkNotice}
        </p>
      )}
      <div className="table-scroll">
    <table className="artifacts">
      <caption className="sr-only">Artifacts in {repository}</caption>
      <thead>
        <tr>
          {selectable && (
            <th scope="col" className="select">
              <input
                type="checkbox"
                aria-label="Select all artifacts on this page"
                checked={allChosen}
                onChange={() => setSelected(allChosen ? new Set() : new Set(artifacts.map((a) => a.id)))}
              />
            </th>
          )}
          <th scope="col">Tags</th>
          <th scope="col">Digest</th>
          {header('SIZE', 'Size', 'num')}
          <th scope="col">Vulnerabilities</th>
          {header('PUSH_TIME', 'Pushed')}
          <th scope="col">Pull</th>
        </tr>
      </thead>
      <tbody>
        {artifacts.map((a) => {
          const pull = `docker pull ${registryHost()}/${repository}@${a.digest}`
          const tags = [...(a.tags ?? [])].sort((x, y) => x.name.localeCompare(y.name))
          const detailsID = `artifact-${a.id}`
          const isOpen = open === a.id
          const ref = tags[0]?.name ?? shortDigest(a.digest)
          return (
            <Fragment key={a.id}>
              <tr>
                {selectable && (
                  <td className="select">
                    <input
                      type="checkbox"
                      aria-label={`Select ${ref}`}
                      checked={selected.has(a.id)}
                      onChange={() => toggle(a.id)}
                    />
                  </td>
                )}
                <td>
                  {tags.length === 0 ? (
                    <span className="muted">{isIndexType(a.mediaType) ? 'untagged index' : 'untagged'}</span>
                  ) : (
                    <ul className="tags">
                      {tags.map((t) => (
                        <li key={t.id} className="tag">
                          {t.name}
                        </li>
                      ))}
                    </ul>
                  )}
                  <Platforms artifact={a} />
                </td>
                <td>
                  <Link to={artifactPath(repository, a.digest) + (tags[0] ? `?tag=${encodeURIComponent(tags[0].name)}` : '')}>
                    <code title={a.digest} className="digest">
                      {shortDigest(a.digest)}
                    </code>
                    <span className="sr-only"> (open the artifact {ref})</span>
                  </Link>{' '}
                  <CopyButton text={a.digest} label={`Copy digest ${a.digest}`} />
                  {a.signatureStatus !== 'UNSIGNED' && (
                    <SignatureBadge status={a.signatureStatus} keyName={a.signatureKey} reason={a.signatureReason} />
                  )}
                </td>
                <td className="num">{formatBytes(a.size)}</td>
                <td>
                  <ScanCell overview={a.scanOverview} />
                </td>
                <td>
                  <Time value={a.pushTime} compact />
                </td>
                <td className="row-actions">
                  <CopyButton text={pull} label={`Copy pull command for ${ref}`}>
                    docker pull
                  </CopyButton>
                  <button
                    type="button"
                    className="link"
                    aria-expanded={isOpen}
                    aria-controls={detailsID}
                    onClick={() => setOpen(isOpen ? null : a.id)}
                  >
                    {isOpen ? 'Hide details' : 'Details'}
                    <span className="sr-only"> of {ref}</span>
                  </button>
                </td>
              </tr>
              {a.accessoryArtifacts.map((x) => (
                <tr key={x.id} className="accessory">
                  {selectable && <td />}
                  <td colSpan={2}>
                    <span aria-hidden="true">↳ </span>
                    <span className="badge">{accessoryKind(x.artifactType)}</span>{' '}
                    <Link to={artifactPath(repository, x.digest)}>
                      <code title={x.digest} className="digest">
                        {shortDigest(x.digest)}
                      </code>
                      <span className="sr-only"> ({accessoryKind(x.artifactType)} of {ref})</span>
                    </Link>
                  </td>
                  <td className="num">{formatBytes(x.size)}</td>
                  <td colSpan={3} />
                </tr>
              ))}
              {isOpen && (
                <tr id={detailsID} className="details">
                  <td colSpan={selectable ? 7 : 6}>
                    <dl className="facts small">
                      <div>
                        <dt>Digest</dt>
                        <dd>
                          <code>{a.digest}</code>
                        </dd>
                      </div>
                      <div>
                        <dt>Media type</dt>
                        <dd>
                          <code>{a.mediaType}</code>
                        </dd>
                      </div>
                      {a.artifactType && (
                        <div>
                          <dt>Artifact type</dt>
                          <dd>
                            <code>{a.artifactType}</code>
                          </dd>
                        </div>
                      )}
                      <div>
                        <dt>Pulls</dt>
                        <dd>{a.pullCount}</dd>
                      </div>
                      <div>
                        <dt>Last pulled</dt>
                        <dd>
                          <Time value={a.pullTime} />
                        </dd>
                      </div>
                    </dl>
                  </td>
                </tr>
              )}
            </Fragment>
          )
        })}
      </tbody>
    </table>
      </div>
    </>
  )
}

/** platformName writes os/architecture/variant, as docker's --platform does. */
export function platformName(p: { os: string; architecture: string; variant: string }): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/')
}

/** Platforms lists an index's platforms (or an image's own) under its tags. */
function Platforms({ artifact }: { artifact: ArtifactRowFragment }) {
  const unique = [...new Set(artifact.platforms.map(platformName))].sort()
  if (unique.length === 0) return null
  return (
    <ul className="platforms" aria-label="Platforms">
      {unique.map((n) => (
        <li key={n}>{n}</li>
      ))}
    </ul>
  )
}

/** isIndexType reports whether a media type is an OCI index or a Docker manifest list. */
function isIndexType(mediaType: string): boolean {
  return /image\.index|manifest\.list/.test(mediaType)
}

/** accessoryKind names what an accessory is from its artifact type. */
function accessoryKind(type: string): string {
  if (/cosign|notary|signature/.test(type)) return 'signature'
  if (/spdx|cyclonedx|sbom/.test(type)) return 'SBOM'
  if (/in-toto|attestation|provenance/.test(type)) return 'attestation'
  return 'accessory'
}

/** ScanCell is an artifact's scan in a list: not scanned, scanning, failed, or its severity bar. */
function ScanCell({ overview }: { overview: ArtifactRowFragment['scanOverview'] }) {
  if (!overview) return <span className="muted">not scanned</span>
  switch (overview.status) {
    case 'PENDING':
    case 'RUNNING':
      return <span className="badge">scanning</span>
    case 'ERROR':
      return <span className="badge status-failed">scan failed</span>
    case 'STOPPED':
      return <span className="badge">scan stopped</span>
    default:
      return <SeverityBar summary={overview.summary} total={overview.total} />
  }
}
