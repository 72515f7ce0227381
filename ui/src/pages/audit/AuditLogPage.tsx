import { useTitle } from '../../components/title'
import { AdminHead } from '../admin/AdminHead'
import { AuditLogTable } from './AuditLogTable'

/** AuditLogPage is Administration → Audit log: every project's entries and the system's own. */
export function AuditLogPage() {
  useTitle('Audit log')
  return (
    <AdminHead title="Audit log" read="audit-log:list">
      <AuditLogTable showProject />
    </AdminHead>
  )
}
