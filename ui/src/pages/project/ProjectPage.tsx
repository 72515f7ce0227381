import { Link, NavLink, Outlet, useParams } from 'react-router'
import { useQuery } from 'urql'
import { roleNames } from '../../components/access'
import { useProjectAccess } from '../../components/permissions'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Missing } from '../../components/Missing'
import { Time } from '../../components/Time'
import { useTitle } from '../../components/title'
import { graphql } from '../../gql'
import type { ProjectContext } from './context'
import { ProxyFact } from './ProxyFact'
import { QuotaFact } from './QuotaFact'

const ProjectQuery = graphql(`
  query Project($name: String!) {
    project(name: $name) {
      id
      name
      public
      autoScan
      preventVulnerable
      severityThreshold
      cveAllowlist
      scannerID
      createdAt
      myRole
      repositoryCount
      proxyRegistryID
      proxyNamespace
      proxyFreshnessSeconds
      quota {
        limit
        used
      }
    }
  }
`)

/**
 * ProjectPage shows one project: its name and facts, then tabs (repositories, members, settings,
 * webhooks, logs), each a nested route so that it has its own address. Tabs the viewer may not use are
 * left out; the server refuses them anyway.
 */
export function ProjectPage() {
  const name = useParams().name ?? ''
  useTitle(name)
  const [result, reload] = useQuery({ query: ProjectQuery, variables: { name } })
  const project = result.data?.project
  const access = useProjectAccess(project?.id)
  // Members see the settings (read-only unless they may change them); so do those who may change them.
  const member = !!project?.myRole || access.updateProject
  const base = `/projects/${name}`

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
        {project?.proxyRegistryID && <span className="badge">Proxy cache</span>}
      </div>
      {result.error && <ErrorMessage error={result.error} title="Could not load the project" />}
      {!result.data && result.fetching && <p className="muted">Loading…</p>}
      {result.data && !project && <Missing what={`Project “${name}”`} />}
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
            {project.proxyRegistryID && (
              <ProxyFact
                registryID={project.proxyRegistryID}
                namespace={project.proxyNamespace ?? ''}
                freshness={project.proxyFreshnessSeconds ?? 0}
              />
            )}
            {project.quota && (
              <QuotaFact
                projectID={project.id}
                projectName={project.name}
                quota={project.quota}
                canEdit={access.updateQuota}
                onChanged={() => reload({ requestPolicy: 'network-only' })}
              />
            )}
            {project.myRole && (
              <div>
                <dt>Your role</dt>
                <dd>{roleNames[project.myRole] ?? project.myRole}</dd>
              </div>
            )}
          </dl>
          <nav aria-label="Project sections" className="tabs">
            <NavLink to={base} end>
              Repositories
            </NavLink>
            {access.readMembers && <NavLink to={`${base}/members`}>Members</NavLink>}
            {member && <NavLink to={`${base}/settings`}>Settings</NavLink>}
            {access.listWebhooks && <NavLink to={`${base}/webhooks`}>Webhooks</NavLink>}
            {access.readLogs && <NavLink to={`${base}/logs`}>Logs</NavLink>}
            {access.readRobots && <NavLink to={`${base}/robots`}>Robot accounts</NavLink>}
            {access.readRetention && <NavLink to={`${base}/retention`}>Tag retention</NavLink>}
            {access.listImmutable && <NavLink to={`${base}/immutability`}>Immutable tags</NavLink>}
            <NavLink to={`${base}/summary`}>Summary</NavLink>
          </nav>
          <Outlet context={{ project, access } satisfies ProjectContext} />
        </>
      )}
    </>
  )
}
