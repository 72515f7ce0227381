import { useOutletContext } from 'react-router'
import type { ProjectAccess } from '../../components/permissions'
import type { ProjectQuery } from '../../gql/graphql'

/** ProjectContext is what ProjectPage hands to the tab it shows. */
export interface ProjectContext {
  project: NonNullable<ProjectQuery['project']>
  access: ProjectAccess
}

/** useProject gives a tab the project it belongs to and what the viewer may do there. */
export function useProject(): ProjectContext {
  return useOutletContext<ProjectContext>()
}
