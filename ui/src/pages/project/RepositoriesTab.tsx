import { Link, useSearchParams } from 'react-router'
import { SearchBox } from '../../components/SearchBox'
import { SortHeader } from '../../components/SortHeader'
import type { OrderDirection, RepositoryOrderField } from '../../gql/graphql'
import { useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, usePage } from '../../components/Pager'
import { Time } from '../../components/Time'
import { graphql } from '../../gql'
import { useProject } from './context'
import { DeleteRepositoryButton } from '../repository/DeleteRepositoryButton'

const ProjectRepositoriesQuery = graphql(`
  query ProjectRepositories(
    $name: String!
    $first: Int
    $after: Cursor
    $last: Int
    $before: Cursor
    $orderBy: RepositoryOrder
    $where: RepositoryWhereInput
  ) {
    project(name: $name) {
      id
      repositories(
        first: $first
        after: $after
        last: $last
        before: $before
        orderBy: $orderBy
        where: $where
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
            id
            name
            pullCount
            updatedAt
          }
        }
      }
    }
  }
`)

const sortFields: Record<string, RepositoryOrderField> = { name: 'NAME', pulls: 'PULL_COUNT', updated: 'UPDATED_AT' }

/**
 * RepositoriesTab lists a project's repositories a page at a time, sorted and searched on the
 * server (both in the address), each with a delete for those who may.
 */
export function RepositoriesTab() {
  const { project, access } = useProject()
  const page = usePage()
  const [params, setParams] = useSearchParams()
  const search = params.get('q') ?? ''
  const [sortKey, sortDir] = (params.get('sort') ?? '').split('-')
  const field: RepositoryOrderField = sortFields[sortKey] ?? 'NAME'
  const direction: OrderDirection = sortDir === 'desc' ? 'DESC' : sortDir === 'asc' ? 'ASC' : field === 'NAME' ? 'ASC' : 'DESC'
  const [result, refetch] = useQuery({
    query: ProjectRepositoriesQuery,
    variables: {
      name: project.name,
      ...page.variables,
      orderBy: { field, direction },
      where: search ? { nameContainsFold: search } : null,
    },
  })
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
  const onSort = (f: RepositoryOrderField, d: OrderDirection) => {
    const key = Object.entries(sortFields).find(([, v]) => v === f)?.[0] ?? 'name'
    setView({ sort: `${key}-${d.toLowerCase()}` })
  }
  const repositories = result.data?.project?.repositories
  const rows = repositories?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []

  return (
    <>
      <h2 className="sr-only">Repositories</h2>
      {result.error && <ErrorMessage error={result.error} title="Could not load the repositories" />}
      {!repositories && result.fetching && <p className="muted">Loading repositories…</p>}
      {(rows.length > 0 || search) && (
        <SearchBox label="Search repositories by name" value={search} onChange={(q) => setView({ q })} />
      )}
      {repositories && rows.length === 0 && search && (
        <div className="empty">
          <p>No repository name contains “{search}”.</p>
        </div>
      )}
      {repositories && rows.length === 0 && !search && (
        <div className="empty">
          <p>No repositories yet.</p>
          {project.proxyRegistryID ? (
            <p className="muted">
              Pull an image through this proxy cache to fetch and keep it:{' '}
              <code>docker pull {window.location.host}/{project.name}/NAME:TAG</code>
            </p>
          ) : (
            <p className="muted">
              Push an image to create one: <code>docker push {window.location.host}/{project.name}/NAME:TAG</code>
            </p>
          )}
        </div>
      )}
      {rows.length > 0 && (
        <table>
          <caption className="sr-only">Repositories in {project.name}</caption>
          <thead>
            <tr>
              <SortHeader field="NAME" current={field} direction={direction} onSort={onSort} firstDirection="ASC">
                Name
              </SortHeader>
              <SortHeader field="PULL_COUNT" current={field} direction={direction} onSort={onSort} className="num">
                Pulls
              </SortHeader>
              <SortHeader field="UPDATED_AT" current={field} direction={direction} onSort={onSort}>
                Updated
              </SortHeader>
              {access.deleteArtifact && (
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id}>
                <td>
                  <Link to={`/repositories/${r.name}`}>{r.name}</Link>
                </td>
                <td className="num">{r.pullCount}</td>
                <td>
                  <Time value={r.updatedAt} compact />
                </td>
                {access.deleteArtifact && (
                  <td className="row-actions">
                    <DeleteRepositoryButton
                      id={r.id}
                      name={r.name}
                      compact
                      onDeleted={() => refetch({ requestPolicy: 'network-only' })}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {repositories && <Pager page={page} pageInfo={repositories.pageInfo} label="Repositories" />}
    </>
  )
}
