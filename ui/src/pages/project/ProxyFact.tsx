import { useQuery } from 'urql'
import { EndpointsDocument } from '../replication/EndpointsSection'

/**
 * ProxyFact says which upstream a proxy-cache project pulls through to: the endpoint's name and URL
 * for those who may read endpoints (administrators), its number for the others.
 */
export function ProxyFact({ registryID, namespace, freshness }: { registryID: string; namespace: string; freshness: number }) {
  const [endpoints] = useQuery({ query: EndpointsDocument })
  const endpoint = endpoints.data?.registryEndpoints.items.find((e) => e.id === registryID)
  const upstream = endpoint ? `${endpoint.name} (${endpoint.url})` : `registry endpoint #${registryID}`
  return (
    <div>
      <dt>Proxy cache of</dt>
      <dd>
        {upstream}
        {namespace ? ` / ${namespace}` : ''}
        <span className="muted"> · tags checked upstream after {freshness} s · pushes refused</span>
      </dd>
    </div>
  )
}
