import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react'
import { Client, Provider, cacheExchange, fetchExchange, subscriptionExchange } from 'urql'
import { createClient as createWSClient, type Client as WSClient } from 'graphql-ws'

// A session is one urql client (with its cache) and one WebSocket. Logging in or out starts a new
// session, so nothing the previous user could see stays in memory.
function newSession(): { client: Client; ws: WSClient } {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws'
  const ws = createWSClient({
    url: `${scheme}://${window.location.host}/graphql`,
    lazy: true,
    retryAttempts: 5,
  })
  const client = new Client({
    url: '/graphql',
    fetchOptions: { credentials: 'same-origin' },
    preferGetMethod: false,
    requestPolicy: 'cache-and-network',
    exchanges: [
      cacheExchange,
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
  return { client, ws }
}

const RestartContext = createContext<() => void>(() => {})

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
      <Provider value={session.client}>{children}</Provider>
    </RestartContext.Provider>
  )
}

/** useRestartSession returns a function that drops every cached result and reconnects. */
export function useRestartSession(): () => void {
  return useContext(RestartContext)
}
