import type { CombinedError } from 'urql'
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
 * could not be reached, it offers Retry now (queries also try again by themselves, with a backoff).
 */
export function ErrorMessage({ error, title }: { error: CombinedError | string; title?: string }) {
  const retryNow = useRetryNow()
  const text = typeof error === 'string' ? error : errorText(error)
  const unreachable = typeof error !== 'string' && !!error.networkError
  return (
    <div className="error" role="alert">
      {title && <strong>{title}: </strong>}
      {text}
      {unreachable && (
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
