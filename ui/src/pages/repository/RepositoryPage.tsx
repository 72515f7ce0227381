import { Link, useNavigate, useParams, useSearchParams } from 'react-router'
import { SearchBox } from '../../components/SearchBox'
import { formatSort, parseSort } from './sort'
import { useQuery, useSubscription } from 'urql'
import { CopyButton } from '../../components/CopyButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Missing } from '../../components/Missing'
import { Pager, usePage } from '../../components/Pager'
import { useTitle } from '../../components/title'
import { registryHost } from '../../format'
import { graphql } from '../../gql'
import { ArtifactTable } from './ArtifactTable'
import { DeleteRepositoryButton } from './DeleteRepositoryButton'
import { useProjectAccess } from '../../components/permissions'

const RepositoryQuery = graphql(`
  query Repository(
    $name: String!
    $first: Int
    $after: Cursor
    $last: Int
    $before: Cursor
    $orderBy: ArtifactOrder
    $search: String
  ) {
    repository(name: $name) {
      id
      name
      projectID
      pullCount
      project {
        id
        name
        public
      }
      artifacts: listedArtifacts(
        first: $first
        after: $after
        last: $last
        before: $before
        orderBy: $orderBy
        search: $search
      ) {
        totalCount
        pageInfo {
          hasNextPage
          hasPreviousPage
          startCursor
          endCursor
        }
        edges {
          node {
            ...ArtifactRow
          }
        }
      }
    }
  }
`)

const RepositoryEventsSubscription = graphql(`
  subscription RepositoryEvents($projectID: ID) {
    events(projectID: $projectID, types: [ARTIFACT_PUSHED, ARTIFACT_DELETED, TAG_CREATED, TAG_DELETED]) {
      type
      repository
    }
  }
`)

/** RepositoryPage lists a repository's artifacts, newest first, and refreshes when one is pushed. */
export function RepositoryPage() {
  const name = useParams()['*']?.replace(/\/+$/, '') ?? ''
  useTitle(name)
  const page = usePage()
  const [params, setParams] = useSearchParams()
  const sort = parseSort(params.get('sort'))
  const search = params.get('q') ?? ''
  const [result, refetch] = useQuery({
    query: RepositoryQuery,
    variables: { name, ...page.variables, orderBy: { field: sort.field, direction: sort.direction }, search: search || null },
  })
  // Sorting or searching starts from the first page.
  const setView = (changes: Record<string, string | null>) => {
    const p = new URLSearchParams(params)
    p.delete('after')
    p.delete('before')
    for (const [k, v] of Object.entries(changes)) {
      if (v) p.set(k, v)
      else p.delete(k)
    }
    setParams(p, { replace: true })
  }
  const repository = result.data?.repository
  const artifacts = repository?.artifacts
  const rows = artifacts?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []

  // Live updates are a nicety: a failed subscription leaves the page as it is.
  useSubscription(
    { query: RepositoryEventsSubscription, variables: { projectID: repository?.projectID }, pause: !repository },
    (_previous, data) => {
      if (data.events.repository === name) refetch({ requestPolicy: 'network-only' })
      return data
    },
  )

  const projectName = repository?.project.name ?? name.split('/')[0]
  const access = useProjectAccess(repository?.projectID)
  const navigate = useNavigate()
  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/projects">Projects</Link> / <Link to={`/projects/${projectName}`}>{projectName}</Link> /{' '}
        <span aria-current="page">{name.slice(projectName.length + 1) || name}</span>
      </nav>
      <div className="page-head">
        <h1>{name}</h1>
        {repository && access.deleteArtifact && (
          <span className="page-actions">
            <DeleteRepositoryButton
              id={repository.id}
              name={repository.name}
              artifactCount={artifacts?.totalCount}
              onDeleted={() => navigate(`/projects/${projectName}`, { replace: true })}
            />
          </span>
        )}
      </div>
      {result.error && <ErrorMessage error={result.error} title="Could not load the repository" />}
      {!result.data && result.fetching && <p className="muted">Loading…</p>}
      {result.data && !repository && (
        <>
          <Missing what={`Repository “${name}”`} />
          <p>
            <Link to={`/projects/${projectName}`}>Go to the project {projectName}</Link>
          </p>
        </>
      )}
      {repository && artifacts && (
        <>
          <dl className="facts">
            <div>
              <dt>Artifacts</dt>
              <dd>{artifacts.totalCount}</dd>
            </div>
            <div>
              <dt>Pulls</dt>
              <dd>{repository.pullCount}</dd>
            </div>
          </dl>
          {rows[0] && <PullNewest repository={repository.name} digest={rows[0].digest} />}
          <h2>Artifacts</h2>
          <SearchBox label="Search artifacts by tag or digest" value={search} onChange={(q) => setView({ q })} />
          {rows.length === 0 ? (
            <div className="empty">
              <p>{search ? `No artifact has a tag or digest matching “${search}”.` : 'No artifacts in this repository.'}</p>
            </div>
          ) : (
            <ArtifactTable
              repository={repository.name}
              artifacts={rows}
              sort={sort}
              onSort={(s) => setView({ sort: formatSort(s) })}
              access={access}
              onChanged={() => refetch({ requestPolicy: 'network-only' })}
            />
          )}
          <Pager page={page} pageInfo={artifacts.pageInfo} label="Artifacts" />
        </>
      )}
    </>
  )
}

// PullNewest shows the command that pulls the newest artifact, by digest so it never moves.
function PullNewest({ repository, digest }: { repository: string; digest: string }) {
  const command = `docker pull ${registryHost()}/${repository}@${digest}`
  return (
    <section aria-labelledby="pull-title" className="pull">
      <h2 id="pull-title">Pull the newest artifact</h2>
      <div className="command">
        <code>{command}</code>
        <CopyButton text={command} label="Copy pull command" />
      </div>
    </section>
  )
}
