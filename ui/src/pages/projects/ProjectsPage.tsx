import { QuotaBar } from '../../components/QuotaBar'
import { useEffect, useMemo, useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import { useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, usePage } from '../../components/Pager'
import { usePermissions } from '../../components/permissions'
import { Time } from '../../components/Time'
import { useTitle } from '../../components/title'
import { useViewer } from '../../components/viewer'
import { formatBytes } from '../../format'
import { graphql } from '../../gql'
import { ExportDialog } from '../exports/ExportDialog'
import { NewProjectDialog } from './NewProjectDialog'

const ProjectsQuery = graphql(`
  query Projects($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: ProjectWhereInput) {
    projects(
      first: $first
      after: $after
      last: $last
      before: $before
      where: $where
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
          public
          repositoryCount
          storageUsed
          quota {
            limit
            used
          }
          createdAt
        }
      }
    }
  }
`)

/** ProjectsPage lists the projects the caller may see, with a name search. */
export function ProjectsPage() {
  useTitle('Projects')
  const { viewer } = useViewer()
  const system = usePermissions(null)
  const [params, setParams] = useSearchParams()
  const search = params.get('q') ?? ''
  const [typed, setTyped] = useState(search)
  const page = usePage()
  const [created, setCreated] = useState<string | null>(null)

  // Search as the user types, once they pause; a new search starts at the first page.
  useEffect(() => {
    if (typed.trim() === search) return
    const t = setTimeout(() => {
      const p = new URLSearchParams()
      if (typed.trim()) p.set('q', typed.trim())
      setParams(p, { replace: true })
    }, 250)
    return () => clearTimeout(t)
  }, [typed, search, setParams])

  // An empty list holds no Project, so tell the cache which type a new project would change.
  const context = useMemo(() => ({ additionalTypenames: ['Project'] }), [])
  const [result, refetch] = useQuery({
    query: ProjectsQuery,
    variables: { ...page.variables, where: search ? { nameContains: search.toLowerCase() } : undefined },
    context,
  })
  const projects = result.data?.projects
  const rows = projects?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []

  return (
    <>
      <div className="page-head">
        <h1>Projects</h1>
        {viewer && !viewer.anonymous && (
          <div className="button-row">
            <ExportDialog />
            {system.can('project:create') && (
              <NewProjectDialog
                onCreated={(name) => {
                  setCreated(name)
                  refetch({ requestPolicy: 'network-only' })
                }}
              />
            )}
          </div>
        )}
      </div>
      {created && (
        <p className="notice" role="status">
          Project <Link to={`/projects/${created}`}>{created}</Link> created.
        </p>
      )}
      <form className="toolbar" role="search" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="project-search">Search projects</label>
        <input
          id="project-search"
          type="search"
          placeholder="Name contains…"
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
        />
        {projects && (
          <span className="muted count">
            {projects.totalCount} {projects.totalCount === 1 ? 'project' : 'projects'}
          </span>
        )}
      </form>
      {viewer?.anonymous && (
        <p className="muted">
          You are browsing public projects. <Link to="/login?next=/projects">Log in</Link> to see your private ones.
        </p>
      )}
      {result.error && <ErrorMessage error={result.error} title="Could not load projects" />}
      {!projects && result.fetching && <p className="muted">Loading projects…</p>}
      {projects && rows.length === 0 && (
        <div className="empty">
          {search ? <p>No project name contains “{search}”.</p> : <p>No projects yet.</p>}
        </div>
      )}
      {rows.length > 0 && (
        <table>
          <caption className="sr-only">Projects</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Access</th>
              <th scope="col" className="num">
                Repositories
              </th>
              <th scope="col" className="num">
                Storage used
              </th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.id}>
                <td>
                  <Link to={`/projects/${p.name}`}>{p.name}</Link>
                </td>
                <td>
                  <span className={p.public ? 'badge public' : 'badge'}>{p.public ? 'Public' : 'Private'}</span>
                </td>
                <td className="num">{p.repositoryCount}</td>
                <td className="num">
                  {p.quota ? <QuotaBar used={p.quota.used} limit={p.quota.limit} label={`Storage used by ${p.name}`} /> : formatBytes(p.storageUsed)}
                </td>
                <td>
                  <Time value={p.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {projects && <Pager page={page} pageInfo={projects.pageInfo} label="Projects" />}
    </>
  )
}
