import { Link, useParams } from 'react-router'
import { useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Missing } from '../../components/Missing'
import { Pager, usePage } from '../../components/Pager'
import { Time } from '../../components/Time'
import { useTitle } from '../../components/title'
import { graphql } from '../../gql'

const ProjectQuery = graphql(`
  query Project($name: String!, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
    project(name: $name) {
      id
      name
      public
      createdAt
      myRole
      repositoryCount
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

const roleNames: Record<string, string> = {
  PROJECT_ADMIN: 'Project admin',
  MAINTAINER: 'Maintainer',
  DEVELOPER: 'Developer',
  GUEST: 'Guest',
  LIMITED_GUEST: 'Limited guest',
}

/** ProjectPage shows one project and its repositories. */
export function ProjectPage() {
  const name = useParams().name ?? ''
  useTitle(name)
  const page = usePage()
  const [result] = useQuery({ query: ProjectQuery, variables: { name, ...page.variables } })
  const project = result.data?.project
  const repositories = project?.repositories
  const rows = repositories?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []

  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/projects">Projects</Link> / <span aria-current="page">{name}</span>
      </nav>
      <div className="page-head">
        <h1>{name}</h1>
        {project && (
          <span className={project.public ? 'badge public' : 'badge'}>{project.public ? 'Public' : 'Private'}</span>
        )}
      </div>
      {result.error && <ErrorMessage error={result.error} title="Could not load the project" />}
      {!result.data && result.fetching && <p className="muted">Loading…</p>}
      {result.data && !project && (
        <Missing what={`Project “${name}”`} />
      )}
      {project && (
        <>
          <dl className="facts">
            <div>
              <dt>Repositories</dt>
              <dd>{project.repositoryCount}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>
                <Time value={project.createdAt} />
              </dd>
            </div>
            {project.myRole && (
              <div>
                <dt>Your role</dt>
                <dd>{roleNames[project.myRole] ?? project.myRole}</dd>
              </div>
            )}
          </dl>
          <h2>Repositories</h2>
          {rows.length === 0 ? (
            <div className="empty">
              <p>No repositories yet.</p>
              <p className="muted">
                Push an image to create one: <code>docker push {window.location.host}/{project.name}/NAME:TAG</code>
              </p>
            </div>
          ) : (
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
      )}
    </>
  )
}
