import { makeOperation, mapExchange, type Client, type CombinedError, type Exchange, type Operation } from 'urql'

/**
 * Recovery re-asks the queries that failed because the server could not be reached, by itself,
 * with a backoff (1 s, 2 s, 4 s … up to maxDelayMs), until they get an answer: a page whose
 * server went away shows the error, and once the server is back the error goes and the data comes
 * without the reader doing anything. retryNow asks them all again at once (the Retry button).
 * Mutations are never repeated: the reader decides whether to try a change again.
 */
export interface Recovery {
  exchange: Exchange
  /** bind gives the recovery the client whose operations it re-executes. */
  bind: (client: Client) => void
  retryNow: () => void
  /** refreshAll asks every query a page is showing again (after the live connection was lost). */
  refreshAll: () => void
}

const maxDelayMs = 15_000

/** The errors of the queries the recovery asks again: only there does a Retry button do something. */
const retried = new WeakSet<CombinedError>()

/** isRetried tells whether error is one of a query the recovery asks again (never a mutation's). */
export function isRetried(error: CombinedError): boolean {
  return retried.has(error)
}

export function newRecovery(): Recovery {
  let client: Client | null = null
  const active = new Map<number, Operation>()
  const failed = new Map<number, { operation: Operation; attempt: number; timer: ReturnType<typeof setTimeout> }>()

  const again = (operation: Operation) => {
    failed.get(operation.key) && clearTimeout(failed.get(operation.key)!.timer)
    client?.reexecuteOperation(makeOperation(operation.kind, operation, { ...operation.context, requestPolicy: 'network-only' }))
  }
  const forget = (key: number) => {
    const f = failed.get(key)
    if (f) clearTimeout(f.timer)
    failed.delete(key)
  }

  const exchange = mapExchange({
    onOperation(operation) {
      if (operation.kind === 'query') active.set(operation.key, operation)
      if (operation.kind === 'teardown') {
        active.delete(operation.key)
        forget(operation.key)
      }
    },
    onResult(result) {
      const operation = result.operation
      if (operation.kind !== 'query') return
      if (!result.error?.networkError) {
        forget(operation.key)
        return
      }
      retried.add(result.error)
      const previous = failed.get(operation.key)
      if (previous) clearTimeout(previous.timer)
      const attempt = (previous?.attempt ?? 0) + 1
      const delay = Math.min(maxDelayMs, 1000 * 2 ** (attempt - 1))
      const timer = setTimeout(() => again(operation), delay)
      failed.set(operation.key, { operation, attempt, timer })
    },
  })

  return {
    exchange,
    bind: (c) => {
      client = c
    },
    retryNow: () => {
      for (const f of [...failed.values()]) {
        clearTimeout(f.timer)
        failed.set(f.operation.key, { ...f, attempt: 0 })
        again(f.operation)
      }
    },
    refreshAll: () => {
      for (const operation of [...active.values()]) again(operation)
    },
  }
}
