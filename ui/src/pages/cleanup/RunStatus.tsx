/** statusNames are a job run's statuses as people read them. */
const statusNames: Record<string, string> = {
  PENDING: 'Pending',
  RUNNING: 'Running',
  SUCCESS: 'Succeeded',
  ERROR: 'Failed',
  STOPPED: 'Stopped',
}

/** RunStatus is a run's status as a badge, coloured by outcome. */
export function RunStatus({ status }: { status: string }) {
  const tone = status === 'ERROR' ? 'status-failed' : status === 'SUCCESS' ? 'public' : ''
  return <span className={`badge ${tone}`}>{statusNames[status] ?? status}</span>
}
