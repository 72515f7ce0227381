import { useQuery } from 'urql'
import { graphql } from '../gql'

const ViewerQuery = graphql(`
  query Viewer {
    me {
      kind
      admin
      user {
        id
        username
      }
    }
  }
`)

/** Viewer is who is looking at the dashboard. */
export interface Viewer {
  kind: string
  admin: boolean
  username: string | null
  anonymous: boolean
}

/**
 * useViewer asks the server who is calling. While the answer is on its way, viewer is undefined;
 * pages that only adjust what they show (a "New project" button) can simply wait.
 */
export function useViewer() {
  const [result] = useQuery({ query: ViewerQuery, requestPolicy: 'cache-first' })
  const me = result.data?.me
  const viewer: Viewer | undefined = me
    ? { kind: me.kind, admin: me.admin, username: me.user?.username ?? null, anonymous: me.kind === 'ANONYMOUS' }
    : undefined
  return { viewer, fetching: result.fetching, error: result.error }
}
