import { SignatureBadge } from '../../components/SignatureBadge'
import { useMemo } from 'react'
import { Link, useNavigate, useSearchParams } from 'react-router'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { CopyButton } from '../../components/CopyButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Missing } from '../../components/Missing'
import { Time } from '../../components/Time'
import { useTitle } from '../../components/title'
import { useProjectAccess } from '../../components/permissions'
import { formatBytes, registryHost, shortDigest } from '../../format'
import { graphql } from '../../gql'
import { artifactPath, repositoryPath } from '../../paths'
import { ArtifactLabels } from './ArtifactLabels'
import { ArtifactTags } from './ArtifactTags'
import { Vulnerabilities } from './Vulnerabilities'
import { platformName } from '../repository/ArtifactTable'

const ArtifactQuery = graphql(`
  query Artifact($repository: String!, $reference: String!) {
    artifact(repository: $repository, reference: $reference) {
      id
      digest
      mediaType
      artifactType
      size
      config
      annotations
      pushTime
      pullTime
      pullCount
      tags {
        id
        name
        pushTime
      }
      labels {
        id
        name
        description
        color
      }
      children {
        id
        digest
        mediaType
        artifactType
        size
        platform {
          os
          architecture
          variant
          osVersion
        }
      }
      blobs {
        id
        digest
        mediaType
        size
      }
      manifest
      signed
      signatureStatus
      signatureKey
      signatureReason
      accessoryArtifacts {
        id
        digest
        artifactType
        mediaType
        size
      }
      repository {
        id
        name
        project {
          id
          name
          myRole
          proxyRegistryID
        }
      }
    }
  }
`)

const DeleteArtifactMutation = graphql(`
  mutation DeleteArtifact($id: ID!) {
    deleteArtifact(id: $id)
  }
`)

// prettyConfig indents the image config for reading; anything that is not JSON is shown as it is.
function prettyConfig(config: string): string {
  try {
    return JSON.stringify(JSON.parse(config), null, 2)
  } catch {
    return config
  }
}

/**
 * ArtifactPage shows one artifact, found by repository and digest: what it is, its tags and labels
 * (with the controls to change them), its annotations and config, the manifests an index holds,
 * the accessories that refer to it, and a way to delete it.
 */
export function ArtifactPage({ repository, digest }: { repository: string; digest: string }) {
  useTitle(`${repository}@${shortDigest(digest)}`)
  const navigate = useNavigate()
  const context = useMemo(() => ({ additionalTypenames: ['Tag', 'Label'] }), [])
  const [result, refetch] = useQuery({ query: ArtifactQuery, variables: { repository, reference: digest }, context })
  const [, deleteArtifact] = useMutation(DeleteArtifactMutation)
  const artifact = result.data?.artifact
  const project = artifact?.repository.project
  const access = useProjectAccess(project?.id)
  // A proxy-cache project mirrors its upstream: tags and deletes are refused there, so not offered.
  const proxy = !!project?.proxyRegistryID
  const projectName = project?.name ?? repository.split('/')[0]
  const reload = () => refetch({ requestPolicy: 'network-only' })
  const annotations = Object.entries(artifact?.annotations ?? {}).sort(([a], [b]) => a.localeCompare(b))
  const children = artifact?.children ?? []
  const isIndex = children.length > 0 || /index|manifest\.list/.test(artifact?.mediaType ?? '')
  // The tab lives in the address (?tab=layers), and so does the tag the reader came by (?tag=v1),
  // which the page names and pulls by as long as it still points here.
  const [params] = useSearchParams()
  const tab = tabs.some((t) => t.key === params.get('tab')) ? (params.get('tab') as TabKey) : 'overview'
  const arrivedBy = params.get('tag')
  const byTag = arrivedBy && (artifact?.tags ?? []).some((t) => t.name === arrivedBy) ? arrivedBy : null
  const pull = byTag ? `docker pull ${registryHost()}/${repository}:${byTag}` : `docker pull ${registryHost()}/${repository}@${digest}`
  const tabLink = (key: TabKey) => {
    const p = new URLSearchParams(params)
    if (key === 'overview') p.delete('tab')
    else p.set('tab', key)
    const q = p.toString()
    return q ? `?${q}` : '?'
  }

  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/projects">Projects</Link> / <Link to={`/projects/${projectName}`}>{projectName}</Link> /{' '}
        <Link to={repositoryPath(repository)}>{repository.slice(projectName.length + 1) || repository}</Link> /{' '}
        <span aria-current="page">{shortDigest(digest)}</span>
      </nav>
      <div className="page-head">
        <h1 className="artifact-title">
          {repository}
          <span className="muted">@{shortDigest(digest)}</span>
        </h1>
        {artifact && (
          <SignatureBadge status={artifact.signatureStatus} keyName={artifact.signatureKey} reason={artifact.signatureReason} />
        )}
      </div>
      {byTag && (
        <p className="arrived-by">
          Opened by tag <span className="tag">{byTag}</span>
        </p>
      )}
      {result.error && <ErrorMessage error={result.error} title="Could not load the artifact" />}
      {!result.data && result.fetching && <p className="muted">Loading…</p>}
      {result.data && !artifact && <Missing what={`Artifact ${shortDigest(digest)} in “${repository}”`} />}
      {artifact && project && (
        <>
          <nav aria-label="Artifact sections" className="tabs">
            {tabs.map((t) => (
              <Link key={t.key} to={tabLink(t.key)} aria-current={tab === t.key ? 'page' : undefined} replace>
                {t.label}
                {t.key === 'accessories' && artifact.accessoryArtifacts.length > 0 && ` (${artifact.accessoryArtifacts.length})`}
              </Link>
            ))}
          </nav>
          {tab === 'overview' && (
          <>
          <dl className="facts artifact-facts">
            <div className="wide">
              <dt>Digest</dt>
              <dd>
                <code>{artifact.digest}</code> <CopyButton text={artifact.digest} label="Copy digest" />
              </dd>
            </div>
            <div>
              <dt>Media type</dt>
              <dd>
                <code>{artifact.mediaType}</code>
              </dd>
            </div>
            <div>
              <dt>Artifact type</dt>
              <dd>{artifact.artifactType ? <code>{artifact.artifactType}</code> : <span className="muted">none</span>}</dd>
            </div>
            <div>
              <dt>Size</dt>
              <dd>{formatBytes(artifact.size)}</dd>
            </div>
            <div>
              <dt>Pushed</dt>
              <dd>
                <Time value={artifact.pushTime} />
              </dd>
            </div>
            <div>
              <dt>Last pulled</dt>
              <dd>
                <Time value={artifact.pullTime} />
              </dd>
            </div>
            <div>
              <dt>Pulls</dt>
              <dd>{artifact.pullCount}</dd>
            </div>
          </dl>
          <div className="command">
            <code>{pull}</code>
            <CopyButton text={pull} label="Copy pull command" />
          </div>

          <ArtifactTags
            artifactID={artifact.id}
            repository={repository}
            tags={artifact.tags ?? []}
            canCreate={access.createTag && !proxy}
            canDelete={access.deleteTag && !proxy}
            onChanged={reload}
          />

          <section aria-labelledby="annotations-title">
            <h2 id="annotations-title">Annotations</h2>
            {annotations.length === 0 ? (
              <p className="muted">No annotations.</p>
            ) : (
              <table className="key-values">
                <caption className="sr-only">Annotations</caption>
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Value</th>
                  </tr>
                </thead>
                <tbody>
                  {annotations.map(([k, v]) => (
                    <tr key={k}>
                      <th scope="row">
                        <code>{k}</code>
                      </th>
                      <td>{v}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>

          {isIndex && (
            <section aria-labelledby="children-title">
              <h2 id="children-title">Manifests in this index</h2>
              {children.length === 0 ? (
                <p className="muted">This index lists no manifests stored here.</p>
              ) : (
                <table>
                  <caption className="sr-only">Manifests in this index</caption>
                  <thead>
                    <tr>
                      <th scope="col">Digest</th>
                      <th scope="col">Platform</th>
                      <th scope="col">Media type</th>
                      <th scope="col" className="num">
                        Size
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {children.map((c) => (
                      <tr key={c.id}>
                        <td>
                          <Link to={artifactPath(repository, c.digest)}>
                            <code className="digest" title={c.digest}>
                              {shortDigest(c.digest)}
                            </code>
                          </Link>
                        </td>
                        <td>
                          {c.platform ? (
                            platformName(c.platform) + (c.platform.osVersion ? ` (${c.platform.osVersion})` : '')
                          ) : (
                            <span className="muted">unknown</span>
                          )}
                        </td>
                        <td>
                          <code>{c.mediaType}</code>
                        </td>
                        <td className="num">{formatBytes(c.size)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          )}

          <section aria-labelledby="manifest-title">
            <h2 id="manifest-title">Manifest</h2>
            {artifact.manifest != null ? (
              <pre className="config" tabIndex={0} aria-labelledby="manifest-title">
                <code>{prettyConfig(artifact.manifest)}</code>
              </pre>
            ) : (
              <p className="muted">The manifest could not be read from storage.</p>
            )}
          </section>
          </>
          )}

          {tab === 'layers' && (
            <>
          {!isIndex && <BuildHistory config={artifact.config} />}
          {!isIndex && (
            <section aria-labelledby="layers-title">
              <h2 id="layers-title">Layers</h2>
              <BlobTable blobs={(artifact.blobs ?? []).filter((b) => b.digest !== artifact.digest)} />
            </section>
          )}
          <section aria-labelledby="config-title">
            <h2 id="config-title">Config</h2>
            {artifact.config ? (
              <pre className="config" tabIndex={0} aria-labelledby="config-title">
                <code>{prettyConfig(artifact.config)}</code>
              </pre>
            ) : isIndex ? (
              <p className="muted">An index has no config of its own: open one of its manifests.</p>
            ) : (
              <p className="muted">No config to show: this artifact has none, or it is not a small JSON document.</p>
            )}
          </section>
            </>
          )}

          {tab === 'vulnerabilities' && (
            <Vulnerabilities repository={repository} artifactID={artifact.id} digest={digest} canScan={access.scan} />
          )}

          {tab === 'labels' && (
            <ArtifactLabels
              artifactID={artifact.id}
              projectID={project.id}
              labels={artifact.labels ?? []}
              canEdit={access.labelArtifact}
              onChanged={reload}
            />
          )}

          {tab === 'accessories' && (
          <section aria-labelledby="accessories-title">
            <h2 id="accessories-title">Accessories</h2>
            {artifact.accessoryArtifacts.length === 0 ? (
              <p className="muted">No signatures, SBOMs or other artifacts refer to this one.</p>
            ) : (
              <table>
                <caption className="sr-only">Accessories of this artifact</caption>
                <thead>
                  <tr>
                    <th scope="col">Digest</th>
                    <th scope="col">Artifact type</th>
                    <th scope="col" className="num">
                      Size
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {artifact.accessoryArtifacts.map((a) => (
                    <tr key={a.id}>
                      <td>
                        <Link to={artifactPath(repository, a.digest)}>
                          <code className="digest" title={a.digest}>
                            {shortDigest(a.digest)}
                          </code>
                        </Link>
                      </td>
                      <td>
                        <code>{a.artifactType || a.mediaType}</code>
                      </td>
                      <td className="num">{formatBytes(a.size)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>

          )}

          {tab === 'overview' && access.deleteArtifact && !proxy && (
            <section className="panel danger-zone" aria-labelledby="delete-artifact-title">
              <h2 id="delete-artifact-title">Delete this artifact</h2>
              <p>Its tags and accessories go with it. Clients can no longer pull it, by tag or by digest.</p>
              <ConfirmButton
                title="Delete this artifact?"
                message={
                  <p>
                    <code>{repository}@{shortDigest(artifact.digest)}</code>
                    {(artifact.tags?.length ?? 0) > 0 && (
                      <> and its tags {(artifact.tags ?? []).map((t) => t.name).join(', ')}</>
                    )}{' '}
                    will be deleted. This cannot be undone.
                  </p>
                }
                confirmLabel="Delete artifact"
                onConfirm={async () => {
                  const res = await deleteArtifact({ id: artifact.id })
                  if (res.error) return res.error
                  navigate(repositoryPath(repository), { replace: true })
                  return null
                }}
              >
                Delete artifact
              </ConfirmButton>
            </section>
          )}
        </>
      )}
    </>
  )
}

type TabKey = 'overview' | 'layers' | 'vulnerabilities' | 'accessories' | 'labels'

const tabs: { key: TabKey; label: string }[] = [
  { key: 'overview', label: 'Overview' },
  { key: 'layers', label: 'Layers' },
  { key: 'vulnerabilities', label: 'Vulnerabilities' },
  { key: 'accessories', label: 'Accessories' },
  { key: 'labels', label: 'Labels' },
]

type HistoryEntry = { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }

/** BuildHistory lists the steps that built an image, from its config's history. */
function BuildHistory({ config }: { config: string }) {
  let history: HistoryEntry[] = []
  try {
    const parsed = JSON.parse(config) as { history?: HistoryEntry[] }
    if (Array.isArray(parsed.history)) history = parsed.history
  } catch {
    // not JSON: no history to show
  }
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">Build history</h2>
      {history.length === 0 ? (
        <p className="muted">The image config records no build steps.</p>
      ) : (
        <table>
          <caption className="sr-only">Build history</caption>
          <thead>
            <tr>
              <th scope="col" className="num">
                Step
              </th>
              <th scope="col">Command</th>
              <th scope="col">Created</th>
              <th scope="col">Layer</th>
            </tr>
          </thead>
          <tbody>
            {history.map((h, i) => (
              <tr key={i}>
                <td className="num">{i + 1}</td>
                <td>
                  <code className="history-command">{h.created_by || h.comment || ''}</code>
                </td>
                <td>{h.created ? <Time value={h.created} compact /> : <span className="muted">unknown</span>}</td>
                <td>{h.empty_layer ? <span className="muted">none</span> : 'yes'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

type Blob = { id: string; digest: string; mediaType: string; size: number }

/** BlobTable lists what a manifest stands on: its config first, then its layers. */
function BlobTable({ blobs }: { blobs: Blob[] }) {
  if (blobs.length === 0) return <p className="muted">This manifest references no blobs.</p>
  // OCI and artifact configs say so in their media type; Docker's image config is container.image.
  const isConfig = (b: Blob) => /config|container\.image\.v1\+json/.test(b.mediaType)
  const sorted = [...blobs].sort((a, b) => Number(isConfig(b)) - Number(isConfig(a)))
  return (
    <table>
      <caption className="sr-only">Layers and config blob</caption>
      <thead>
        <tr>
          <th scope="col">Kind</th>
          <th scope="col">Digest</th>
          <th scope="col">Media type</th>
          <th scope="col" className="num">
            Size
          </th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((b) => (
          <tr key={b.id}>
            <td>{isConfig(b) ? 'Config' : 'Layer'}</td>
            <td>
              <code className="digest" title={b.digest}>
                {shortDigest(b.digest)}
              </code>
            </td>
            <td>
              <code>{b.mediaType}</code>
            </td>
            <td className="num">{formatBytes(b.size)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
