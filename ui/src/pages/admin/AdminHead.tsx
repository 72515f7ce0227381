import type { ReactNode } from 'react'
import { Link, NavLink } from 'react-router'
import { useViewer } from '../../components/viewer'

/**
 * AdminHead is the top of every Administration page: the breadcrumb, the page's title and the
 * sections of Administration. For anyone but a system admin it says so instead of the page.
 */
export function AdminHead({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  const { viewer } = useViewer()
  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <span>Administration</span> / <span aria-current="page">{title}</span>
      </nav>
      <div className="page-head">
        <h1>{title}</h1>
        {viewer?.admin && actions}
      </div>
      <nav aria-label="Administration sections" className="tabs">
        <NavLink to="/admin/users">Users</NavLink>
        <NavLink to="/admin/robots">Robot accounts</NavLink>
        <NavLink to="/admin/audit-log">Audit log</NavLink>
        <NavLink to="/admin/configuration">Configuration</NavLink>
        <NavLink to="/admin/scanners">Scanners</NavLink>
        <NavLink to="/admin/replication">Replication</NavLink>
        <NavLink to="/admin/clean-up">Clean Up</NavLink>
      </nav>
      {viewer && !viewer.admin ? (
        <div className="empty">
          <p>Only system administrators may see this page.</p>
          <p>
            <Link to="/projects">Back to the projects</Link>.
          </p>
        </div>
      ) : (
        viewer && children
      )}
    </>
  )
}
