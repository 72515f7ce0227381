import type { ReactNode } from 'react'
import { Link, NavLink } from 'react-router'
import { type Action, usePermissions } from '../../components/permissions'

/** adminSections are the pages of Administration, each with the system action that reads it. */
export const adminSections: { to: string; label: string; read: Action }[] = [
  { to: '/admin/users', label: 'Users', read: 'user:list' },
  { to: '/admin/robots', label: 'Robot accounts', read: 'robot:read' },
  { to: '/admin/audit-log', label: 'Audit log', read: 'audit-log:list' },
  { to: '/admin/configuration', label: 'Configuration', read: 'configuration:read' },
  { to: '/admin/scanners', label: 'Scanners', read: 'scanner:read' },
  { to: '/admin/replication', label: 'Replication', read: 'replication:read' },
  { to: '/admin/clean-up', label: 'Clean Up', read: 'garbage-collection:read' },
]

/**
 * AdminHead is the top of every Administration page: the breadcrumb, the page's title and the
 * sections of Administration the viewer may read. A viewer the server does not allow to read the
 * page (read) is told so instead of the page; the page's own controls (actions) are offered to
 * those it allows to manage (manage, else read).
 */
export function AdminHead({
  title,
  read,
  manage,
  actions,
  children,
}: {
  title: string
  read: Action
  manage?: Action
  actions?: ReactNode
  children: ReactNode
}) {
  const { can, ready } = usePermissions(null)
  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <span>Administration</span> / <span aria-current="page">{title}</span>
      </nav>
      <div className="page-head">
        <h1>{title}</h1>
        {can(manage ?? read) && actions}
      </div>
      <nav aria-label="Administration sections" className="tabs">
        {adminSections
          .filter((s) => !ready || can(s.read))
          .map((s) => (
            <NavLink key={s.to} to={s.to}>
              {s.label}
            </NavLink>
          ))}
      </nav>
      {ready && !can(read) ? (
        <div className="empty">
          <p>Only system administrators may see this page.</p>
          <p>
            <Link to="/projects">Back to the projects</Link>.
          </p>
        </div>
      ) : (
        ready && children
      )}
    </>
  )
}
