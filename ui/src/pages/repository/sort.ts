import type { ArtifactOrderField, OrderDirection } from '../../gql/graphql'

/** ArtifactSort is how the artifact table is sorted; it lives in the address as ?sort=size-asc. */
export interface ArtifactSort {
  field: ArtifactOrderField
  direction: OrderDirection
}

const fields: Record<string, ArtifactOrderField> = { pushed: 'PUSH_TIME', pulled: 'PULL_TIME', size: 'SIZE' }

/** parseSort reads ?sort=; newest push first when absent or not understood. */
export function parseSort(value: string | null): ArtifactSort {
  const [key, dir] = (value ?? '').split('-')
  const field = fields[key]
  if (!field) return { field: 'PUSH_TIME', direction: 'DESC' }
  return { field, direction: dir === 'asc' ? 'ASC' : 'DESC' }
}

/** formatSort writes a sort for the address. */
export function formatSort(s: ArtifactSort): string {
  const key = Object.entries(fields).find(([, f]) => f === s.field)?.[0] ?? 'pushed'
  return `${key}-${s.direction === 'ASC' ? 'asc' : 'desc'}`
}
