import { SignatureBadge } from '../../components/SignatureBadge'
import { Fragment, useState } from 'react'
import { Link } from 'react-router'
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

/** ArtifactTable shows artifacts with their tags, digest, size and push time, and how to pull them. */
export function ArtifactTable({ repository, artifacts }: { repository: string; artifacts: ArtifactRowFragment[] }) {
  const [open, setOpen] = useState<string | null>(null)
  return (
    <table className="artifacts">
      <caption className="sr-only">Artifacts in {repository}, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Tags</th>
          <th scope="col">Digest</th>
          <th scope="col" className="num">
            Size
          </th>
          <th scope="col">Vulnerabilities</th>
          <th scope="col">Pushed</th>
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
                <td>
                  {tags.length === 0 ? (
                    <span className="muted">untagged</span>
                  ) : (
                    <ul className="tags">
                      {tags.map((t) => (
                        <li key={t.id} className="tag">
                          {t.name}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>
                  <Link to={artifactPath(repository, a.digest)}>
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
                  <Time value={a.pushTime} />
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
              {isOpen && (
                <tr id={detailsID} className="details">
                  <td colSpan={6}>
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
  )
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
