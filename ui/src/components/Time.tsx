import { formatTime, formatTimeCompact } from '../format'

/**
 * Time shows a server time in the reader's locale, keeping the exact value for machines and, on
 * hover, for the reader. compact writes a short date (a time of day for today) for tables.
 */
export function Time({ value, compact }: { value: string | null | undefined; compact?: boolean }) {
  if (!value) return <span className="muted">never</span>
  return (
    <time dateTime={value} title={formatTime(value) + ' (' + value + ')'} className={compact ? 'compact' : undefined}>
      {compact ? formatTimeCompact(value) : formatTime(value)}
    </time>
  )
}
