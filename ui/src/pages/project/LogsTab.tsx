import { AuditLogTable } from '../audit/AuditLogTable'
import { useProject } from './context'

/** LogsTab is the project's own audit log, for members whose role may read it. */
export function LogsTab() {
  const { project } = useProject()
  return (
    <>
      <h2>Audit log</h2>
      <AuditLogTable projectID={project.id} showProject={false} />
    </>
  )
}
