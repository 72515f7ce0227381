import { useEffect } from 'react'
import { useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, useLocalPage } from '../../components/Pager'
import { Time } from '../../components/Time'
import { graphql } from '../../gql'
import type { WebhookDeliveryStatus } from '../../gql/graphql'

const DeliveriesQuery = graphql(`
  query WebhookDeliveries($id: ID!, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
    webhookPolicy(id: $id) {
      id
      deliveries(
        first: $first
        after: $after
        last: $last
        before: $before
        orderBy: { field: CREATED_AT, direction: DESC }
      ) {
        totalCount
        pageInfo {
          hasNextPage
          hasPreviousPage
          startCursor
          endCursor
        }
        edges {
          node {
            id
            eventType
            status
            attempts
            statusCode
            latencyMs
            responseExcerpt
            error
            test
            createdAt
          }
        }
      }
    }
  }
`)

/** DELIVERIES_PAGE is how many deliveries the history shows at once. */
const DELIVERIES_PAGE = 20

/** How often the history asks again while a delivery is still on its way. */
const POLL_MS = 2000

// A pending delivery that has been tried already is waiting for its next retry: it says so.
const statusNames: Record<WebhookDeliveryStatus, string> = {
  PENDING: 'Pending',
  SUCCEEDED: 'Succeeded',
  FAILED: 'Failed',
}

/**
 * DeliveryHistory lists a webhook policy's deliveries, newest first, 20 at a time. While any shown
 * delivery is pending it asks again every two seconds, so retries and outcomes appear by themselves.
 * refreshKey changes when the caller knows of a new delivery (a test event was sent).
 */
export function DeliveryHistory({ policyID, policyName, refreshKey }: { policyID: string; policyName: string; refreshKey: number }) {
  const page = useLocalPage(DELIVERIES_PAGE)
  const [result, refetch] = useQuery({ query: DeliveriesQuery, variables: { id: policyID, ...page.variables } })
  const deliveries = result.data?.webhookPolicy?.deliveries
  const rows = deliveries?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []
  const pending = rows.some((d) => d.status === 'PENDING')

  useEffect(() => {
    if (refreshKey > 0) refetch({ requestPolicy: 'network-only' })
  }, [refreshKey, refetch])

  useEffect(() => {
    if (!pending) return
    const t = setInterval(() => refetch({ requestPolicy: 'network-only' }), POLL_MS)
    return () => clearInterval(t)
  }, [pending, refetch])

  return (
    <>
      {result.error && <ErrorMessage error={result.error} title="Could not load the deliveries" />}
      {!deliveries && result.fetching && <p className="muted">Loading deliveries…</p>}
      {deliveries && rows.length === 0 && (
        <p className="muted">No deliveries yet. Send a test event to try the endpoint.</p>
      )}
      {rows.length > 0 && (
        <table className="deliveries">
          <caption className="sr-only">Deliveries of webhook {policyName}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Event</th>
              <th scope="col" className="num">
                Attempts
              </th>
              <th scope="col" className="num">
                HTTP status
              </th>
              <th scope="col" className="num">
                Latency
              </th>
              <th scope="col">Created</th>
              <th scope="col">Response or error</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.id}>
                <td>
                  <span className={`badge status-${d.status.toLowerCase()}`}>
                    {d.status === 'PENDING' && d.attempts > 0 ? 'Retrying' : statusNames[d.status]}
                  </span>
                </td>
                <td>
                  <code>{d.eventType}</code>
                  {d.test && <span className="badge">test</span>}
                </td>
                <td className="num">{d.attempts}</td>
                <td className="num">{d.statusCode ?? <span className="muted">–</span>}</td>
                <td className="num">{d.latencyMs != null ? `${d.latencyMs} ms` : <span className="muted">–</span>}</td>
                <td>
                  <Time value={d.createdAt} compact />
                </td>
                <td className="excerpt">
                  {d.error && <span className="error-text">{d.error}</span>}
                  {d.responseExcerpt && <code>{d.responseExcerpt}</code>}
                  {!d.error && !d.responseExcerpt && <span className="muted">–</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {deliveries && (
        <div className="list-foot">
          <span className="muted">
            {deliveries.totalCount} {deliveries.totalCount === 1 ? 'delivery' : 'deliveries'}
            {pending && ' · refreshing while pending'}
          </span>
          <Pager page={page} pageInfo={deliveries.pageInfo} label={`Deliveries of ${policyName}`} />
        </div>
      )}
    </>
  )
}
