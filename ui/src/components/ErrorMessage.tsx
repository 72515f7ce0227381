import type { CombinedError } from 'urql'
import { isRetried } from '../recovery'
import { useRetryNow } from '../session'

/** errorText turns a failed GraphQL operation into a sentence for the user. */
export function errorText(error: CombinedError): string {
  if (error.graphQLErrors.length > 0) {
    return error.graphQLErrors.map((e) => e.message).join('; ')
  }
  if (error.networkError) {
    return `Could not reach the Berth server: ${error.networkError.message}`
  }
  return error.message
}

/**
 * ErrorMessage shows a failed operation's error, announced to screen readers. When the server
 * could not be reached by a query, it offers Retry now (such queries also try again by themselves,
 * with a backoff); a failed mutation is never repeated, so it gets no Retry button.
 */
export function ErrorMessage({ error, title }: { error: CombinedError | string; title?: string }) {
  const retryNow = useRetryNow()
  const text = typeof error === 'string' ? error : errorText(error)
  const retryable = typeof error !== 'string' && !!error.networkError && isRetried(error)
  return (
    <div className="error" role="alert">
      {title && <strong>{title}: </strong>}
      {text}
      {retryable && (
        <>
          {' '}
          <button type="button" className="small" onClick={retryNow}>
            Retry now
          </button>
        </>
      )}
    </div>
  )
}
