import { RobotList } from '../robots/RobotList'
import { useProject } from './context'

/** RobotsTab is a project's robot accounts: members who may read robots see them, project admins manage them. */
export function RobotsTab() {
  const { project, access } = useProject()
  return <RobotList project={{ id: project.id, name: project.name }} manage={access.manageRobots} />
}
