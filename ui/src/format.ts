// How the dashboard writes sizes, times and digests.

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** formatBytes writes a size in binary units: 512 B, 1.5 KiB, 23.4 MiB. */
export function formatBytes(n: number): string {
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

/** formatTime writes an RFC 3339 time in the reader's locale and zone. */
export function formatTime(iso: string): string {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d)
}

const timeOfDay = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' })
const shortDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'short' })

/** formatTimeCompact writes a time for a table cell: the time of day for today, else the date. */
export function formatTimeCompact(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return d.toDateString() === new Date().toDateString() ? timeOfDay.format(d) : shortDate.format(d)
}

/** shortDigest keeps the algorithm and the first 12 hex digits: sha256:0123456789ab. */
export function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.split(':', 2)
  return hex ? `${algorithm}:${hex.slice(0, 12)}` : digest
}

/** registryHost is the host name a docker client uses for this Berth: the one serving the page. */
export function registryHost(): string {
  return window.location.host
}
