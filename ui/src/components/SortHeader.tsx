import type { ReactNode } from 'react'

/**
 * SortHeader is a column header that sorts its table: a button that says which way the column is
 * sorted (aria-sort on the header), the first click sorting by it, the next reversing it.
 */
export function SortHeader<F extends string>({
  field,
  current,
  direction,
  onSort,
  children,
  className,
  firstDirection = 'DESC',
}: {
  field: F
  current: F
  direction: 'ASC' | 'DESC'
  onSort: (field: F, direction: 'ASC' | 'DESC') => void
  children: ReactNode
  className?: string
  firstDirection?: 'ASC' | 'DESC'
}) {
  const active = field === current
  const sorted = active ? (direction === 'ASC' ? 'ascending' : 'descending') : 'none'
  const next = active ? (direction === 'ASC' ? 'DESC' : 'ASC') : firstDirection
  return (
    <th scope="col" aria-sort={sorted} className={className}>
      <button type="button" className="sort" onClick={() => onSort(field, next)}>
        {children}
        <span aria-hidden="true" className="sort-mark">
          {active ? (direction === 'ASC' ? ' ▲' : ' ▼') : ' ↕'}
        </span>
      </button>
    </th>
  )
}
