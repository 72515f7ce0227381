import { useState, type FormEvent } from 'react'
import { useMutation } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { QuotaBar } from '../../components/QuotaBar'
import { graphql } from '../../gql'

const SetQuotaMutation = graphql(`
  mutation SetProjectQuota($projectID: ID!, $limit: Int!) {
    setProjectQuota(projectID: $projectID, limit: $limit) {
      projectID
      limit
      used
    }
  }
`)

const units: [string, number][] = [
  ['MiB', 1 << 20],
  ['GiB', 1 << 30],
  ['TiB', 2 ** 40],
]

interface Props {
  projectID: string
  projectName: string
  quota: { limit: number; used: number }
  canEdit: boolean
  onChanged: () => void
}

/** QuotaFact is the project's storage usage against its quota, with the limit editable by administrators. */
export function QuotaFact({ projectID, projectName, quota, canEdit, onChanged }: Props) {
  const [editing, setEditing] = useState(false)
  const [amount, setAmount] = useState('')
  const [unit, setUnit] = useState('GiB')
  const [result, setQuota] = useMutation(SetQuotaMutation)

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    const factor = units.find(([u]) => u === unit)?.[1] ?? 1
    const limit = amount.trim() === '' ? -1 : Math.round(Number(amount) * factor)
    const res = await setQuota({ projectID, limit })
    if (res.error) return
    setEditing(false)
    onChanged()
  }

  return (
    <div>
      <dt>Storage</dt>
      <dd>
        <QuotaBar used={quota.used} limit={quota.limit} label={`Storage used by ${projectName}`} />
        {canEdit && !editing && (
          <button type="button" className="link" onClick={() => setEditing(true)}>
            Change quota
          </button>
        )}
        {editing && (
          <form className="inline-form" onSubmit={onSubmit}>
            <div className="field">
              <label htmlFor="quota-limit">Storage limit (empty: unlimited)</label>
              <input id="quota-limit" type="number" min="0" step="any" value={amount} onChange={(e) => setAmount(e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="quota-unit">Unit</label>
              <select id="quota-unit" value={unit} onChange={(e) => setUnit(e.target.value)}>
                {units.map(([u]) => (
                  <option key={u}>{u}</option>
                ))}
              </select>
            </div>
            <button type="submit" disabled={result.fetching}>
              Save quota
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
            {result.error && <ErrorMessage error={result.error} title="Could not change the quota" />}
          </form>
        )}
      </dd>
    </div>
  )
}
