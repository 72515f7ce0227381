import type { Role } from '../gql/graphql'

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
