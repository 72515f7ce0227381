import { useTitle } from '../../components/title'
import { AdminHead } from '../admin/AdminHead'
import { RobotList } from './RobotList'

/** SystemRobotsPage is Administration → Robot accounts: the system robots, for system admins. */
export function SystemRobotsPage() {
  useTitle('Robot accounts')
  return (
    <AdminHead title="Robot accounts" read="robot:read">
      <RobotList manage />
    </AdminHead>
  )
}
