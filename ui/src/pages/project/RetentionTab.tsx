import { useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { graphql } from '../../gql'
import type { RetentionRuleInput, ScheduleKind } from '../../gql/graphql'
import { useProject } from './context'

const PolicyQuery = graphql(`
  query RetentionPolicy($projectID: ID!) {
    retentionPolicy(projectID: $projectID) {
      template
      n
      repositoryPattern
      repositoryExclude
      tagPattern
      tagExclude
      untagged
      disabled
    }
    retentionSchedule(projectID: $projectID) {
      kind
      cron
      nextRunAt
    }
    retentionRuns(projectID: $projectID) {
      id
      status
      dryRun
      trigger
      operator
      artifactsTotal
      artifactsRetained
      artifactsDeleted
      failures
      createdAt
      results {
        repository
        retained
        deleted {
          digest
          tags
        }
      }
    }
  }
`)

const SetPolicyMutation = graphql(`
  mutation SetRetentionPolicy($projectID: ID!, $rules: [RetentionRuleInput!]!) {
    setRetentionPolicy(projectID: $projectID, rules: $rules) {
      template
    }
  }
`)

const StartMutation = graphql(`
  mutation StartRetention($projectID: ID!, $dryRun: Boolean!) {
    startRetention(projectID: $projectID, dryRun: $dryRun) {
      id
      status
    }
  }
`)

const ScheduleMutation = graphql(`
  mutation SetRetentionSchedule($projectID: ID!, $kind: ScheduleKind!, $cron: String) {
    setRetentionSchedule(projectID: $projectID, kind: $kind, cron: $cron) {
      kind
      cron
      nextRunAt
    }
  }
`)

const StopMutation = graphql(`
  mutation StopRetention($id: ID!) {
    stopRetention(id: $id) {
      id
      status
    }
  }
`)

const templates: Record<string, string> = {
  latestPushedK: 'the most recently pushed',
  latestPulledN: 'the most recently pulled',
  nDaysSinceLastPush: 'those pushed within the last … days',
  nDaysSinceLastPull: 'those pulled within the last … days',
  always: 'always',
}

/** describe says what a rule keeps, in words. */
function describe(r: RetentionRuleInput): string {
  const n = r.template === 'always' ? '' : ` (${r.n})`
  const repos = `${r.repositoryExclude ? 'all repositories but ' : 'repositories '}${r.repositoryPattern}`
  const tags = `${r.tagExclude ? 'all tags but ' : 'tags '}${r.tagPattern}${r.untagged ? ', and untagged artifacts' : ''}`
  return `Keep ${templates[r.template] ?? r.template}${n} of ${repos}, ${tags}`
}

/**
 * RetentionTab is the project's tag retention: its rules (an artifact survives if any rule keeps
 * it; the rest of the repositories the rules scope is deleted), a dry run and a real run, and the
 * history of runs with what each deleted per repository.
 */
export function RetentionTab() {
  const { project, access } = useProject()
  const [result, reload] = useQuery({ query: PolicyQuery, variables: { projectID: project.id }, requestPolicy: 'cache-and-network' })
  const [save, setPolicy] = useMutation(SetPolicyMutation)
  const [start, startRun] = useMutation(StartMutation)
  const [, stopRun] = useMutation(StopMutation)
  const [scheduling, setSchedule] = useMutation(ScheduleMutation)
  const [template, setTemplate] = useState('latestPushedK')
  const [n, setN] = useState('10')
  const [repositoryPattern, setRepositoryPattern] = useState('**')
  const [tagPattern, setTagPattern] = useState('**')
  const [untagged, setUntagged] = useState(false)
  const rules: RetentionRuleInput[] = result.data?.retentionPolicy ?? []
  const runs = result.data?.retentionRuns ?? []
  const refresh = () => reload({ requestPolicy: 'network-only' })

  const saveRules = async (next: RetentionRuleInput[]) => {
    const res = await setPolicy({ projectID: project.id, rules: next })
    if (!res.error) refresh()
    return res
  }
  const onAdd = async (e: FormEvent) => {
    e.preventDefault()
    const res = await saveRules([...rules, { template, n: Number(n) || 0, repositoryPattern, tagPattern, untagged }])
    if (!res.error) setTagPattern('**')
  }

  return (
    <section aria-labelledby="retention-title">
      <h2 id="retention-title">Tag retention</h2>
      {result.error && <ErrorMessage error={result.error} title="Could not load the retention policy" />}
      {rules.length === 0 ? (
        <p className="muted">No rules: retention deletes nothing.</p>
      ) : (
        <ol aria-label="Retention rules">
          {rules.map((r, i) => (
            <li key={i}>
              {describe(r)}
              {r.disabled ? ' (disabled)' : ''}{' '}
              {access.manageRetention && (
                <button type="button" onClick={() => void saveRules(rules.filter((_, j) => j !== i))}>
                  Remove<span className="sr-only"> rule {i + 1}</span>
                </button>
              )}
            </li>
          ))}
        </ol>
      )}
      {access.manageRetention && (
        <form className="inline-form" onSubmit={onAdd} aria-label="Add a retention rule">
          <div className="field">
            <label htmlFor="ret-template">Keep</label>
            <select id="ret-template" value={template} onChange={(e) => setTemplate(e.target.value)}>
              {Object.entries(templates).map(([value, text]) => (
                <option key={value} value={value}>
                  {text}
                </option>
              ))}
            </select>
          </div>
          {template !== 'always' && (
            <div className="field">
              <label htmlFor="ret-n">Count</label>
              <input id="ret-n" type="number" min="1" required value={n} onChange={(e) => setN(e.target.value)} />
            </div>
          )}
          <div className="field">
            <label htmlFor="ret-repos">Repositories (glob)</label>
            <input id="ret-repos" required value={repositoryPattern} onChange={(e) => setRepositoryPattern(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="ret-tags">Tags (glob)</label>
            <input id="ret-tags" required value={tagPattern} onChange={(e) => setTagPattern(e.target.value)} />
          </div>
          <div className="field">
            <label>
              <input type="checkbox" checked={untagged} onChange={(e) => setUntagged(e.target.checked)} /> untagged artifacts too
            </label>
          </div>
          <button type="submit" disabled={save.fetching}>
            Add rule
          </button>
          {save.error && <ErrorMessage error={save.error} title="Could not save the policy" />}
        </form>
      )}
      {result.data && (
        <ScheduleForm
          key={`${result.data.retentionSchedule.kind}-${result.data.retentionSchedule.cron}`}
          kind={result.data.retentionSchedule.kind}
          cron={result.data.retentionSchedule.cron}
          nextRunAt={result.data.retentionSchedule.nextRunAt}
          canEdit={access.manageRetention}
          saving={scheduling.fetching}
          onSave={async (kind, cron) => {
            const res = await setSchedule({ projectID: project.id, kind, cron })
            if (!res.error) refresh()
          }}
        />
      )}
      {scheduling.error && <ErrorMessage error={scheduling.error} title="Could not save the schedule" />}
      {access.runRetention && (
        <p>
          <button type="button" disabled={start.fetching} onClick={async () => (await startRun({ projectID: project.id, dryRun: true }), refresh())}>
            Dry run
          </button>{' '}
          <button type="button" disabled={start.fetching} onClick={async () => (await startRun({ projectID: project.id, dryRun: false }), refresh())}>
            Run now
          </button>{' '}
          <button type="button" onClick={refresh}>
            Refresh
          </button>
        </p>
      )}
      {start.error && <ErrorMessage error={start.error} title="Could not start a run" />}
      <h3>Runs</h3>
      {runs.length === 0 ? (
        <p className="muted">No runs yet.</p>
      ) : (
        <table aria-label="Retention runs">
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">Retained</th>
              <th scope="col">Deleted</th>
              <th scope="col">Per repository</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td>
                  <Time value={r.createdAt} />
                </td>
                <td>{r.dryRun ? 'Dry run' : 'Run'}</td>
                <td>
                  {r.status}
                  {(r.status === 'RUNNING' || r.status === 'PENDING') && access.runRetention && (
                    <button type="button" onClick={async () => (await stopRun({ id: r.id }), refresh())}>
                      Stop<span className="sr-only"> run {r.id}</span>
                    </button>
                  )}
                </td>
                <td className="num">{r.artifactsRetained}</td>
                <td className="num">{r.artifactsDeleted}</td>
                <td>
                  {r.results.map((res) => (
                    <div key={res.repository}>
                      {res.repository}: kept {res.retained}, {r.dryRun ? 'would delete' : 'deleted'}{' '}
                      {res.deleted.map((d) => (d.tags.length ? d.tags.join(', ') : d.digest.slice(0, 19))).join('; ') || 'nothing'}
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

interface ScheduleProps {
  kind: ScheduleKind
  cron: string
  nextRunAt?: string | null
  canEdit: boolean
  saving: boolean
  onSave: (kind: ScheduleKind, cron: string) => void
}

/** ScheduleForm says when the policy runs by itself, and lets those who may change it do so. */
function ScheduleForm({ kind: initialKind, cron: initialCron, nextRunAt, canEdit, saving, onSave }: ScheduleProps) {
  const [kind, setKind] = useState<ScheduleKind>(initialKind)
  const [cron, setCron] = useState(initialCron)
  return (
    <form
      className="inline-form"
      aria-label="Retention schedule"
      onSubmit={(e) => {
        e.preventDefault()
        onSave(kind, cron)
      }}
    >
      <div className="field">
        <label htmlFor="ret-schedule">Runs by itself</label>
        <select id="ret-schedule" disabled={!canEdit} value={kind} onChange={(e) => setKind(e.target.value as ScheduleKind)}>
          <option value="NONE">never</option>
          <option value="HOURLY">hourly</option>
          <option value="DAILY">daily</option>
          <option value="WEEKLY">weekly</option>
          <option value="CUSTOM">on a cron schedule</option>
        </select>
      </div>
      {kind === 'CUSTOM' && (
        <div className="field">
          <label htmlFor="ret-cron">Cron expression</label>
          <input id="ret-cron" required disabled={!canEdit} value={cron} onChange={(e) => setCron(e.target.value)} />
        </div>
      )}
      {canEdit && (
        <button type="submit" disabled={saving}>
          Save schedule
        </button>
      )}
      {nextRunAt && (
        <span className="muted">
          Next run <Time value={nextRunAt} />
        </span>
      )}
    </form>
  )
}
