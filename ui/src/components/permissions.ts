import { useQuery } from 'urql'
import { graphql } from '../gql'

const MyPermissionsQuery = graphql(`
  query MyPermissions($projectID: ID) {
    myPermissions(projectID: $projectID)
  }
`)

/**
 * Action is an action of the server's role table, in its own words: "member:create",
 * "repository:push" in a project; "user:create", "garbage-collection:create" for the system.
 */
export type Action = string

/** Permissions is what the viewer may do in one project, or in the system as a whole. */
export interface Permissions {
  /** can reports whether the server allows action; false until it has answered. */
  can: (action: Action) => boolean
  /** ready: the server has answered (until then can says no to everything). */
  ready: boolean
}

/**
 * usePermissions asks the server what the viewer may do in the project (or, with no project, to
 * the system): the dashboard keeps no copy of the role table, it only decides which controls to
 * offer. The server decides again on every request, and its refusal is shown if they disagree.
 * A projectId of undefined waits (the project is still loading); null asks about the system.
 */
export function usePermissions(projectId: string | null | undefined): Permissions {
  const [result] = useQuery({
    query: MyPermissionsQuery,
    variables: { projectID: projectId ?? null },
    pause: projectId === undefined,
    // Permissions change with memberships, which other queries' results do not name: ask again
    // whenever a page mounts.
    requestPolicy: 'cache-and-network',
  })
  const allowed = new Set(result.data?.myPermissions ?? [])
  return { can: (action) => allowed.has(action), ready: result.data !== undefined }
}

/** ProjectAccess says which controls to offer in one project. */
export interface ProjectAccess {
  readMembers: boolean
  manageMembers: boolean
  updateProject: boolean
  deleteProject: boolean
  listWebhooks: boolean
  manageWebhooks: boolean
  manageLabels: boolean
  createTag: boolean
  deleteTag: boolean
  labelArtifact: boolean
  deleteArtifact: boolean
  readLogs: boolean
  scan: boolean
  readRobots: boolean
  manageRobots: boolean
  updateQuota: boolean
  readRetention: boolean
  manageRetention: boolean
  runRetention: boolean
  listImmutable: boolean
  manageImmutable: boolean
}

/** projectControls names, for each control, the action the server must allow. */
const projectControls: Record<keyof ProjectAccess, Action> = {
  readMembers: 'member:read',
  manageMembers: 'member:create',
  updateProject: 'project:update',
  deleteProject: 'project:delete',
  listWebhooks: 'webhook-policy:list',
  manageWebhooks: 'webhook-policy:create',
  manageLabels: 'label:create',
  createTag: 'tag:create',
  deleteTag: 'tag:delete',
  labelArtifact: 'artifact-label:create',
  deleteArtifact: 'artifact:delete',
  readLogs: 'log:list',
  scan: 'scan:create',
  readRobots: 'robot:read',
  manageRobots: 'robot:create',
  updateQuota: 'quota:update',
  readRetention: 'tag-retention:read',
  manageRetention: 'tag-retention:update',
  runRetention: 'tag-retention:operate',
  listImmutable: 'immutable-tag:list',
  manageImmutable: 'immutable-tag:create',
}

/** useProjectAccess is usePermissions for a project, as the controls its pages offer. */
export function useProjectAccess(projectId: string | undefined): ProjectAccess {
  const { can } = usePermissions(projectId)
  const access = {} as ProjectAccess
  for (const [control, action] of Object.entries(projectControls)) {
    access[control as keyof ProjectAccess] = can(action)
  }
  return access
}
