import { NavLink, Outlet } from 'react-router'
import { useTitle } from '../../components/title'
import { AdminHead } from '../admin/AdminHead'

/** CleanUpPage is Administration → Clean Up: each kind of clean-up is a tab with its own address. */
export function CleanUpPage() {
  useTitle('Clean Up')
  return (
    <AdminHead title="Clean Up" read="garbage-collection:read">
      <nav aria-label="Clean-up sections" className="tabs">
        <NavLink to="/admin/clean-up/gc">Garbage Collection</NavLink>
        <NavLink to="/admin/clean-up/log-rotation">Log Rotation</NavLink>
      </nav>
      <Outlet />
    </AdminHead>
  )
}
