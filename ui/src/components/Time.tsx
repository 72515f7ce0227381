import { formatTime } from '../format'

/** Time shows a server time in the reader's locale, keeping the exact value for machines. */
export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">never</span>
  return <time dateTime={value} title={value}>{formatTime(value)}</time>
}
