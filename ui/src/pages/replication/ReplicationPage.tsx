import { useCallback, useState } from 'react'
import { useTitle } from '../../components/title'
import { AdminHead } from '../admin/AdminHead'
import { EndpointsSection } from './EndpointsSection'
import { ExecutionsSection } from './ExecutionsSection'
import { PoliciesSection } from './PoliciesSection'

/**
 * ReplicationPage is Administration → Replication: the registry endpoints (with Test connection),
 * the replication policies, and their executions with live progress.
 */
export function ReplicationPage() {
  useTitle('Replication')
  const [version, setVersion] = useState(0)
  const [ended, setEnded] = useState(0)
  const onEnded = useCallback(() => setEnded((n) => n + 1), [])
  return (
    <AdminHead title="Replication" read="replication:read" manage="replication:create">
      <EndpointsSection />
      <PoliciesSection onStarted={() => setVersion(version + 1)} ended={ended} />
      <ExecutionsSection version={version} onEnded={onEnded} />
    </AdminHead>
  )
}
