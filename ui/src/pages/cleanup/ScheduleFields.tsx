import type { ScheduleKind } from '../../gql/graphql'

const kinds: { value: ScheduleKind; label: string }[] = [
  { value: 'NONE', label: 'None' },
  { value: 'HOURLY', label: 'Hourly' },
  { value: 'DAILY', label: 'Daily (midnight UTC)' },
  { value: 'WEEKLY', label: 'Weekly (Sunday midnight UTC)' },
  { value: 'CUSTOM', label: 'Custom cron' },
]

/** ScheduleFields chooses when a clean-up runs by itself: never, hourly, daily, weekly or a cron expression. */
export function ScheduleFields({
  id,
  kind,
  cron,
  onKind,
  onCron,
}: {
  id: string
  kind: ScheduleKind
  cron: string
  onKind: (k: ScheduleKind) => void
  onCron: (c: string) => void
}) {
  return (
    <>
      <div className="field">
        <label htmlFor={`${id}-kind`}>Schedule</label>
        <select id={`${id}-kind`} value={kind} onChange={(e) => onKind(e.target.value as ScheduleKind)}>
          {kinds.map((k) => (
            <option key={k.value} value={k.value}>
              {k.label}
            </option>
          ))}
        </select>
      </div>
      {kind === 'CUSTOM' && (
        <div className="field">
          <label htmlFor={`${id}-cron`}>Cron expression</label>
          <input id={`${id}-cron`} value={cron} placeholder="0 3 * * *" onChange={(e) => onCron(e.target.value)} />
          <p className="help">Five fields (minute hour day month weekday), in UTC.</p>
        </div>
      )}
    </>
  )
}
