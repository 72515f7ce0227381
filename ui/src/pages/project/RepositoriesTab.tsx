import { Link } from 'react-router'
import { useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, usePage } from '../../components/Pager'
import { Time } from '../../components/Time'
import { graphql } from '../../gql'
import { useProject } from './context'

const ProjectRepositoriesQuery = graphql(`
  query ProjectRepositories($name: String!, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
    project(name: $name) {
      id
      repositories(
        first: $first
        after: $after
        last: $last
        before: $before
        orderBy: { field: NAME, direction: ASC }
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

/** RepositoriesTab lists a project's repositories by name, a page at a time. */
export function RepositoriesTab() {
  const { project } = useProject()
  const page = usePage()
  const [result] = useQuery({ query: ProjectRepositoriesQuery, variables: { name: project.name, ...page.variables } })
  const repositories = result.data?.project?.repositories
  const rows = repositories?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []

  return (
    <>
      <h2 className="sr-only">Repositories</h2>
      {result.error && <ErrorMessage error={result.error} title="Could not load the repositories" />}
      {!repositories && result.fetching && <p className="muted">Loading repositories…</p>}
      {repositories && rows.length === 0 && (
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
              <th scope="col">Name</th>
              <th scope="col" className="num">
                Pulls
              </th>
              <th scope="col">Updated</th>
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
                  <Time value={r.updatedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {repositories && <Pager page={page} pageInfo={repositories.pageInfo} label="Repositories" />}
    </>
  )
}
