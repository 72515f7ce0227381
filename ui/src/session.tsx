import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react'
import { Client, Provider, cacheExchange, fetchExchange, subscriptionExchange } from 'urql'
import { createClient as createWSClient, type Client as WSClient } from 'graphql-ws'
import { newRecovery, type Recovery } from './recovery'

// A session is one urql client (with its cache) and one WebSocket. Logging in or out starts a new
// session, so nothing the previous user could see stays in memory.
// Queries that failed to reach the server are asked again by themselves (recovery.ts); the
// WebSocket reconnects, with a backoff, for as long as a subscription wants it, and graphql-ws
// subscribes again to what was running.
function newSession(): { client: Client; ws: WSClient; recovery: Recovery } {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws'
  const recovery = newRecovery()
  const ws = createWSClient({
    url: `${scheme}://${window.location.host}/graphql`,
    lazy: true,
    retryAttempts: Number.MAX_SAFE_INTEGER,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((ok) => setTimeout(ok, Math.min(15_000, 500 * 2 ** retries) * (0.75 + Math.random() / 2))),
    on: {
      // Once the socket is back after a drop, events were missed and what the pages show may be
      // stale: ask again.
      connected: (_socket, _payload, wasRetry) => {
        if (wasRetry) recovery.refreshAll()
      },
    },
  })
  const client = new Client({
    url: '/graphql',
    fetchOptions: { credentials: 'same-origin' },
    preferGetMethod: false,
    requestPolicy: 'cache-and-network',
    exchanges: [
      cacheExchange,
      recovery.exchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' }
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink)
              return { unsubscribe }
            },
          }
        },
      }),
    ],
  })
  recovery.bind(client)
  return { client, ws, recovery }
}

const RestartContext = createContext<() => void>(() => {})
const RetryContext = createContext<() => void>(() => {})

/** SessionProvider gives the app its GraphQL client and a way to start afresh after login or logout. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState(newSession)
  const restart = useCallback(() => {
    setSession((old) => {
      void old.ws.dispose()
      return newSession()
    })
  }, [])
  const value = useMemo(() => restart, [restart])
  return (
    <RestartContext.Provider value={value}>
      <RetryContext.Provider value={session.recovery.retryNow}>
        <Provider value={session.client}>{children}</Provider>
      </RetryContext.Provider>
    </RestartContext.Provider>
  )
}

/** useRestartSession returns a function that drops every cached result and reconnects. */
export function useRestartSession(): () => void {
  return useContext(RestartContext)
}

/** useRetryNow returns a function that asks every query that could not reach the server again now. */
export function useRetryNow(): () => void {
  return useContext(RetryContext)
}
