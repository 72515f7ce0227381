import { formatBytes } from '../format'

interface Props {
  used: number
  /** The limit in bytes; -1 is unlimited. */
  limit: number
  /** What the bar is about, for its accessible name ("Storage of library"). */
  label: string
}

/**
 * QuotaBar shows a project's storage usage against its quota: a meter and "used of limit" in words;
 * an unlimited quota shows the usage alone. The meter turns to a warning colour past 85 %.
 */
export function QuotaBar({ used, limit, label }: Props) {
  if (limit < 0) {
    return (
      <span className="quota">
        {formatBytes(used)} <span className="muted">of unlimited</span>
      </span>
    )
  }
  const share = limit === 0 ? 1 : Math.min(used / limit, 1)
  return (
    <span className="quota">
      <meter aria-label={label} min={0} max={Math.max(limit, 1)} value={Math.min(used, Math.max(limit, 1))} low={limit * 0.85} high={limit * 0.95} optimum={0} />
      <span>
        {formatBytes(used)} of {formatBytes(limit)} ({Math.round(share * 100)} %)
      </span>
    </span>
  )
}
