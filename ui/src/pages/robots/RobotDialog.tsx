import { useId, useRef, useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'
import { key, PermissionChecks } from './permissions'

graphql(`
  fragment RobotFields on Robot {
    id
    name
    description
    level
    projectID
    permissions {
      namespace
      resource
      action
    }
    duration
    expiresAt
    disabled
    createdBy
    createdAt
    lastUsedAt
  }
`)

export const RobotPermissionChoicesQuery = graphql(`
  query RobotPermissionChoices {
    robotPermissionChoices {
      resource
      action
    }
  }
`)

const RobotProjectsQuery = graphql(`
  query RobotProjects {
    projects(first: 100, orderBy: { field: NAME }) {
      edges {
        node {
          id
          name
        }
      }
    }
  }
`)

const CreateRobotMutation = graphql(`
  mutation CreateRobot($input: CreateRobotInput!) {
    createRobot(input: $input) {
      secret
      robot {
        ...RobotFields
      }
    }
  }
`)

/** What a robot's creation gives once: its login name and its secret. */
export interface Created {
  name: string
  secret: string
}

interface Props {
  /** The project of a project robot; left out for a system robot. */
  project?: { id: string; name: string }
  onCreated: (created: Created) => void
}

/**
 * RobotDialog is the "New robot account" button and its form. A project robot's permissions are for
 * its project; a system robot's are for every project (*) or for the projects chosen.
 */
export function RobotDialog({ project, onCreated }: Props) {
  const dialog = useRef<HTMLDialogElement>(null)
  const id = useId()
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const [days, setDays] = useState('30')
  const [selected, setSelected] = useState<string[]>([])
  const [everyProject, setEveryProject] = useState(true)
  const [projects, setProjects] = useState<string[]>([])
  const [problem, setProblem] = useState<string | null>(null)
  const [opened, setOpened] = useState(false)
  const [choices] = useQuery({ query: RobotPermissionChoicesQuery, pause: !opened })
  const [projectList] = useQuery({ query: RobotProjectsQuery, pause: !opened || !!project })
  const [create, createRobot] = useMutation(CreateRobotMutation)
  const [showError, setShowError] = useState(false)
  const projectNames = projectList.data?.projects.edges?.flatMap((e) => (e?.node ? [e.node.name] : [])) ?? []

  const open = () => {
    setOpened(true)
    setName('')
    setDescription('')
    setDays('30')
    setSelected(['repository:pull'])
    setEveryProject(true)
    setProjects([])
    setProblem(null)
    setShowError(false)
    dialog.current?.showModal()
  }

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    const duration = Number(days)
    if (!Number.isInteger(duration) || (duration < 1 && duration !== -1)) {
      setProblem('Enter the lifetime in whole days, or -1 for a robot that never expires.')
      return
    }
    if (selected.length === 0) {
      setProblem('Choose at least one permission.')
      return
    }
    const namespaces = project ? [project.name] : everyProject ? ['*'] : projects
    if (namespaces.length === 0) {
      setProblem('Choose at least one project, or every project.')
      return
    }
    setProblem(null)
    setShowError(true)
    const offered = choices.data?.robotPermissionChoices ?? []
    const permissions = namespaces.flatMap((namespace) =>
      offered.filter((c) => selected.includes(key(c))).map((c) => ({ namespace, resource: c.resource, action: c.action })),
    )
    const result = await createRobot({
      input: { projectID: project?.id, name: name.trim(), description: description.trim() || undefined, duration, permissions },
    })
    if (result.error || !result.data) return
    dialog.current?.close()
    onCreated({ name: result.data.createRobot.robot.name, secret: result.data.createRobot.secret })
  }

  return (
    <>
      <button type="button" className="primary" onClick={open}>
        New robot account
      </button>
      <dialog ref={dialog} aria-labelledby={`${id}-title`} className="dialog wide">
        <form onSubmit={onSubmit}>
          <h2 id={`${id}-title`}>New robot account</h2>
          {problem && <ErrorMessage error={problem} />}
          {showError && create.error && <ErrorMessage error={create.error} />}
          <label htmlFor={`${id}-name`}>Name</label>
          <input
            id={`${id}-name`}
            required
            autoComplete="off"
            pattern="[a-z0-9._\-]+"
            aria-describedby={`${id}-name-help`}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <p id={`${id}-name-help`} className="help">
            Lower-case letters, digits, ‘.’, ‘_’ and ‘-’. It logs in as{' '}
            <code>
              robot${project ? `${project.name}+` : ''}
              {name.trim() || 'name'}
            </code>
            .
          </p>
          <label htmlFor={`${id}-description`}>
            Description <span className="muted">(optional)</span>
          </label>
          <input id={`${id}-description`} autoComplete="off" value={description} onChange={(e) => setDescription(e.target.value)} />
          <label htmlFor={`${id}-days`}>Expires after (days)</label>
          <input
            id={`${id}-days`}
            type="number"
            min={-1}
            step={1}
            required
            aria-describedby={`${id}-days-help`}
            value={days}
            onChange={(e) => setDays(e.target.value)}
          />
          <p id={`${id}-days-help`} className="help">
            Counted from today; -1 never expires.
          </p>
          {!project && (
            <fieldset className="choices">
              <legend>Projects</legend>
              <label className="check">
                <input type="radio" name={`${id}-scope`} checked={everyProject} onChange={() => setEveryProject(true)} />
                Every project, present and future (*)
              </label>
              <label className="check">
                <input type="radio" name={`${id}-scope`} checked={!everyProject} onChange={() => setEveryProject(false)} />
                Only the projects chosen
              </label>
              {!everyProject && (
                <fieldset className="choices nested">
                  <legend>Chosen projects</legend>
                  {projectList.error && <ErrorMessage error={projectList.error} title="Could not load the projects" />}
                  {projectList.data && projectNames.length === 0 && <p className="muted">No projects yet.</p>}
                  {projectNames.map((p) => (
                    <label key={p} className="check">
                      <input
                        type="checkbox"
                        checked={projects.includes(p)}
                        onChange={(e) => setProjects((old) => (e.target.checked ? [...old, p] : old.filter((x) => x !== p)))}
                      />
                      {p}
                    </label>
                  ))}
                </fieldset>
              )}
            </fieldset>
          )}
          {choices.error && <ErrorMessage error={choices.error} title="Could not load the permissions" />}
          {choices.data && (
            <PermissionChecks
              legend={project ? `Permissions in ${project.name}` : 'Permissions in each project'}
              choices={choices.data.robotPermissionChoices}
              selected={selected}
              onChange={setSelected}
            />
          )}
          <div className="actions">
            <button type="button" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={create.fetching || !choices.data}>
              {create.fetching ? 'Creating…' : 'Create'}
            </button>
          </div>
        </form>
      </dialog>
    </>
  )
}
