import { useId } from 'react'

/** resourceNames are the role table's resources as people read them. */
const resourceNames: Record<string, string> = {
  project: 'Project',
  repository: 'Repository',
  artifact: 'Artifact',
  tag: 'Tag',
  'artifact-label': 'Artifact label',
  scan: 'Scan',
  'export-cve': 'CVE export',
  log: 'Log',
  member: 'Member',
  robot: 'Robot account',
  'webhook-policy': 'Webhook',
}

export const resourceName = (resource: string) => resourceNames[resource] ?? resource

/** A permission as the role table writes it: resource and action. */
export interface Choice {
  resource: string
  action: string
}

/** key writes a permission as the role table does: "repository:pull". */
export const key = (c: Choice) => `${c.resource}:${c.action}`

/** groupByResource keeps the role table's order, resources in the order they first appear. */
export function groupByResource<T extends Choice>(choices: readonly T[]): [string, T[]][] {
  const groups = new Map<string, T[]>()
  for (const c of choices) groups.set(c.resource, [...(groups.get(c.resource) ?? []), c])
  return [...groups.entries()]
}

/** summarize writes permissions compactly: "Repository: pull, push". */
export function summarize(choices: readonly Choice[]): string[] {
  return groupByResource(choices).map(([resource, cs]) => `${resourceName(resource)}: ${cs.map((c) => c.action).join(', ')}`)
}

/**
 * PermissionChecks is a fieldset of checkboxes, one fieldset per resource, for choosing role-table
 * actions; selected holds their keys ("repository:pull").
 */
export function PermissionChecks({
  legend,
  choices,
  selected,
  onChange,
  disabled,
}: {
  legend: string
  choices: readonly Choice[]
  selected: string[]
  onChange: (selected: string[]) => void
  disabled?: boolean
}) {
  const id = useId()
  const toggle = (k: string, on: boolean) => onChange(on ? [...selected.filter((x) => x !== k), k] : selected.filter((x) => x !== k))
  return (
    <fieldset className="choices permissions" disabled={disabled} aria-describedby={`${id}-help`}>
      <legend>{legend}</legend>
      <p id={`${id}-help`} className="help">
        Actions of the role table, grouped by what they act on.
      </p>
      <div className="permission-groups">
        {groupByResource(choices).map(([resource, cs]) => (
          <fieldset key={resource} className="choices">
            <legend>{resourceName(resource)}</legend>
            {cs.map((c) => (
              <label key={key(c)} className="check">
                <input type="checkbox" checked={selected.includes(key(c))} onChange={(e) => toggle(key(c), e.target.checked)} />
                {c.action}
              </label>
            ))}
          </fieldset>
        ))}
      </div>
    </fieldset>
  )
}
