import type { CombinedError } from 'urql'

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

/** ErrorMessage shows a failed operation's error, announced to screen readers. */
export function ErrorMessage({ error, title }: { error: CombinedError | string; title?: string }) {
  const text = typeof error === 'string' ? error : errorText(error)
  return (
    <div className="error" role="alert">
      {title && <strong>{title}: </strong>}
      {text}
    </div>
  )
}
