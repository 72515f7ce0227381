import { useState } from 'react'
import { useSearchParams } from 'react-router'

/** PAGE_SIZE is how many rows every list shows at once. */
export const PAGE_SIZE = 25

/** Page is where a list stands: the variables for its connection field and how to move. */
export interface Page {
  variables: { first?: number; after?: string; last?: number; before?: string }
  /** backwards is true after "Previous": the page was fetched with last/before. */
  backwards: boolean
  /** atStart is true on the first page reached without a cursor. */
  atStart: boolean
  next: (endCursor: string) => void
  previous: (startCursor: string) => void
}

/**
 * usePage keeps a list's cursor in the address (?after= or ?before=), so a reload or a shared link
 * shows the same page, and Back in the browser goes to the previous one.
 */
export function usePage(): Page {
  const [params, setParams] = useSearchParams()
  const after = params.get('after') ?? undefined
  const before = params.get('before') ?? undefined
  const move = (key: 'after' | 'before', cursor: string) => {
    const p = new URLSearchParams(params)
    p.delete('after')
    p.delete('before')
    p.set(key, cursor)
    setParams(p)
  }
  return {
    variables: before ? { last: PAGE_SIZE, before } : { first: PAGE_SIZE, after },
    backwards: before !== undefined,
    atStart: after === undefined && before === undefined,
    next: (cursor) => move('after', cursor),
    previous: (cursor) => move('before', cursor),
  }
}

/**
 * useLocalPage is usePage for a list inside a page (a webhook's deliveries): the cursor lives in
 * the component, so several such lists can page independently and a reload starts afresh.
 */
export function useLocalPage(size = PAGE_SIZE): Page {
  const [cursor, setCursor] = useState<{ after?: string; before?: string }>({})
  return {
    variables: cursor.before ? { last: size, before: cursor.before } : { first: size, after: cursor.after },
    backwards: cursor.before !== undefined,
    atStart: cursor.after === undefined && cursor.before === undefined,
    next: (after) => setCursor({ after }),
    previous: (before) => setCursor({ before }),
  }
}

interface PageInfo {
  hasNextPage: boolean
  hasPreviousPage: boolean
  startCursor?: string | null
  endCursor?: string | null
}

/**
 * Pager shows Previous and Next for a connection. Relay servers report hasPreviousPage only when
 * paging backwards (and hasNextPage only forwards), so the other direction comes from the cursor.
 */
export function Pager({ page, pageInfo, label }: { page: Page; pageInfo: PageInfo; label: string }) {
  const hasPrevious = page.backwards ? pageInfo.hasPreviousPage : !page.atStart
  const hasNext = page.backwards ? true : pageInfo.hasNextPage
  if (!hasPrevious && !hasNext) return null
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <button
        type="button"
        disabled={!hasPrevious || !pageInfo.startCursor}
        onClick={() => pageInfo.startCursor && page.previous(pageInfo.startCursor)}
      >
        ← Previous
      </button>
      <button
        type="button"
        disabled={!hasNext || !pageInfo.endCursor}
        onClick={() => pageInfo.endCursor && page.next(pageInfo.endCursor)}
      >
        Next →
      </button>
    </nav>
  )
}
