import type { Role } from '../gql/graphql'
import type { Viewer } from './viewer'

/** roleNames are the project roles as people read them, most privileged first. */
export const roleNames: Record<Role, string> = {
  PROJECT_ADMIN: 'Project admin',
  MAINTAINER: 'Maintainer',
  DEVELOPER: 'Developer',
  GUEST: 'Guest',
  LIMITED_GUEST: 'Limited guest',
}

/** roles lists every project role, most privileged first. */
export const roles = Object.keys(roleNames) as Role[]

/** ProjectAccess says which controls to offer in one project. */
export interface ProjectAccess {
  readMembers: boolean
  manageMembers: boolean
  updateProject: boolean
  deleteProject: boolean
  listWebhooks: boolean
  manageWebhooks: boolean
  createTag: boolean
  deleteTag: boolean
  labelArtifact: boolean
  deleteArtifact: boolean
  readLogs: boolean
  scan: boolean
  readRobots: boolean
  manageRobots: boolean
}

/**
 * projectAccess follows the role table in auth/permission.go, only to decide which buttons to show:
 * the server decides again on every request, and its refusal is shown if the two ever disagree.
 */
export function projectAccess(viewer: Viewer | undefined, role: Role | null | undefined): ProjectAccess {
  const admin = viewer?.admin ?? false
  const any = (...allowed: Role[]) => admin || (!!role && allowed.includes(role))
  return {
    readMembers: any('PROJECT_ADMIN', 'MAINTAINER', 'DEVELOPER', 'GUEST'),
    manageMembers: any('PROJECT_ADMIN'),
    updateProject: any('PROJECT_ADMIN', 'MAINTAINER'),
    deleteProject: any('PROJECT_ADMIN'),
    listWebhooks: any('PROJECT_ADMIN', 'MAINTAINER'),
    manageWebhooks: any('PROJECT_ADMIN'),
    createTag: any('PROJECT_ADMIN', 'MAINTAINER', 'DEVELOPER'),
    deleteTag: any('PROJECT_ADMIN', 'MAINTAINER'),
    labelArtifact: any('PROJECT_ADMIN', 'MAINTAINER', 'DEVELOPER'),
    deleteArtifact: any('PROJECT_ADMIN', 'MAINTAINER'),
    readLogs: any('PROJECT_ADMIN', 'MAINTAINER', 'DEVELOPER', 'GUEST'),
    scan: any('PROJECT_ADMIN', 'MAINTAINER'),
    readRobots: any('PROJECT_ADMIN', 'MAINTAINER', 'DEVELOPER', 'GUEST'),
    manageRobots: any('PROJECT_ADMIN'),
  }
}
