import { useMemo, useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { registryHost } from '../../format'
import { graphql } from '../../gql'
import type { RobotFieldsFragment } from '../../gql/graphql'
import { RobotDialog, type Created } from './RobotDialog'
import { summarize } from './permissions'
import { Example, SecretDialog } from './SecretDialog'

const RobotsQuery = graphql(`
  query Robots($projectID: ID) {
    robots(projectID: $projectID) {
      ...RobotFields
    }
  }
`)

const ToggleRobotMutation = graphql(`
  mutation ToggleRobot($id: ID!, $disabled: Boolean!) {
    updateRobot(id: $id, input: { disabled: $disabled }) {
      id
      disabled
    }
  }
`)

const RefreshRobotSecretMutation = graphql(`
  mutation RefreshRobotSecret($id: ID!) {
    refreshRobotSecret(id: $id) {
      secret
      robot {
        id
        name
      }
    }
  }
`)

const DeleteRobotMutation = graphql(`
  mutation DeleteRobot($id: ID!) {
    deleteRobot(id: $id)
  }
`)

/**
 * RobotList lists robot accounts: a project's (with project) or the system robots. Those who may
 * manage them get "New robot account" and, on each row, enable/disable, a new secret and delete.
 * A secret, new or refreshed, is shown once in a dialog.
 */
export function RobotList({ project, manage }: { project?: { id: string; name: string }; manage: boolean }) {
  const context = useMemo(() => ({ additionalTypenames: ['Robot'] }), [])
  const [result, refetch] = useQuery({ query: RobotsQuery, variables: { projectID: project?.id }, context })
  const robots = result.data?.robots
  const [notice, setNotice] = useState<string | null>(null)
  const [shown, setShown] = useState<(Created & { refreshed?: boolean }) | null>(null)
  const reload = () => refetch({ requestPolicy: 'network-only' })
  const changed = (text: string) => {
    setNotice(text)
    reload()
  }
  const where = project ? `in ${project.name}` : 'on Berth'

  return (
    <>
      <div className="section-head">
        <h2>{project ? 'Robot accounts' : 'System robot accounts'}</h2>
        {manage && (
          <RobotDialog
            project={project}
            onCreated={(c) => {
              setShown(c)
              changed(`Robot account ${c.name} created.`)
            }}
          />
        )}
      </div>
      <p className="muted">
        Robot accounts log in to the registry and the API with a secret instead of a person’s password
        {project ? `, and may do only what their permissions allow in ${project.name}.` : ', in every project or in the projects named.'}
      </p>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {result.error && <ErrorMessage error={result.error} title="Could not load the robot accounts" />}
      {!robots && result.fetching && <p className="muted">Loading robot accounts…</p>}
      {robots && robots.length === 0 && (
        <div className="empty">
          <p>No robot accounts {where} yet.</p>
          {manage && <p>Create one with “New robot account” to let CI or another registry pull and push without a password.</p>}
        </div>
      )}
      {robots && robots.length > 0 && (
        <table>
          <caption className="sr-only">Robot accounts {where}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Permissions</th>
              <th scope="col">Status</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">Created by</th>
              {manage && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {robots.map((r) => (
              <RobotRow key={r.id} robot={r} manage={manage} system={!project} onChanged={changed} onSecret={setShown} />
            ))}
          </tbody>
        </table>
      )}
      {shown && (
        <SecretDialog
          title={shown.refreshed ? `New secret for ${shown.name}` : `Robot account ${shown.name} created`}
          secretLabel="Secret"
          secret={shown.secret}
          testID="robot-secret"
          warning={
            <>
              Copy it now: Berth keeps only a hash and will not show it again. If it is lost, refresh the secret{' '}
              {shown.refreshed ? 'again' : 'to get a new one'}.
            </>
          }
          onClose={() => setShown(null)}
        >
          <Example title="Docker login" command={`docker login ${registryHost()} -u '${shown.name}'`} />
          <p className="help">Give the secret as the password. The robot’s name, with its $, is the username.</p>
        </SecretDialog>
      )}
    </>
  )
}

interface RowProps {
  robot: RobotFieldsFragment
  manage: boolean
  system: boolean
  onChanged: (notice: string) => void
  onSecret: (shown: Created & { refreshed: boolean }) => void
}

function RobotRow({ robot, manage, system, onChanged, onSecret }: RowProps) {
  const [toggle, toggleRobot] = useMutation(ToggleRobotMutation)
  const [, refreshSecret] = useMutation(RefreshRobotSecretMutation)
  const [, deleteRobot] = useMutation(DeleteRobotMutation)
  const [showError, setShowError] = useState(false)
  const expired = !!robot.expiresAt && new Date(robot.expiresAt).getTime() < Date.now()

  // A system robot's permissions are grouped by project; a project robot's all name its project.
  const byNamespace = new Map<string, RobotFieldsFragment['permissions']>()
  for (const p of robot.permissions) byNamespace.set(p.namespace, [...(byNamespace.get(p.namespace) ?? []), p])

  const setDisabled = async (disabled: boolean) => {
    setShowError(true)
    const result = await toggleRobot({ id: robot.id, disabled })
    if (result.error) return
    setShowError(false)
    onChanged(`Robot account ${robot.name} ${disabled ? 'disabled' : 'enabled'}.`)
  }

  return (
    <tr>
      <td>
        <strong className="robot-name">{robot.name}</strong>
        {robot.description && <div className="muted">{robot.description}</div>}
      </td>
      <td>
        {robot.permissions.length === 0 && <span className="muted">none</span>}
        {[...byNamespace.entries()].map(([namespace, perms]) => (
          <div key={namespace} className="robot-permissions">
            {system && <div className="muted">{namespace === '*' ? 'Every project' : namespace}</div>}
            <ul className="plain">
              {summarize(perms).map((line) => (
                <li key={line}>{line}</li>
              ))}
            </ul>
          </div>
        ))}
      </td>
      <td>
        {robot.disabled ? (
          <span className="badge status-failed">Disabled</span>
        ) : expired ? (
          <span className="badge status-failed">Expired</span>
        ) : (
          'Enabled'
        )}
      </td>
      <td>{robot.expiresAt ? <Time value={robot.expiresAt} compact /> : 'Never'}</td>
      <td>
        <Time value={robot.lastUsedAt} compact />
      </td>
      <td>
        {robot.createdBy}
        <div className="muted">
          <Time value={robot.createdAt} compact />
        </div>
      </td>
      {manage && (
        <td className="row-actions">
          <div className="button-row">
            <button type="button" disabled={toggle.fetching} onClick={() => setDisabled(!robot.disabled)}>
              {robot.disabled ? 'Enable' : 'Disable'}
              <span className="sr-only"> {robot.name}</span>
            </button>
            <ConfirmButton
              className=""
              label={`Refresh the secret of ${robot.name}`}
              title={`Refresh the secret of ${robot.name}?`}
              message={<p>Berth makes a new secret and shows it once. The old secret stops working at once.</p>}
              confirmLabel="Refresh secret"
              onConfirm={async () => {
                const res = await refreshSecret({ id: robot.id })
                if (res.error || !res.data) return res.error ?? 'No answer from the server.'
                onSecret({ name: robot.name, secret: res.data.refreshRobotSecret.secret, refreshed: true })
                onChanged(`Robot account ${robot.name} has a new secret.`)
                return null
              }}
            >
              Refresh secret
            </ConfirmButton>
            <ConfirmButton
              label={`Delete robot account ${robot.name}`}
              title={`Delete robot account ${robot.name}?`}
              message={<p>Whatever logs in as {robot.name} is refused from now on. This cannot be undone.</p>}
              confirmLabel="Delete robot account"
              onConfirm={async () => {
                const res = await deleteRobot({ id: robot.id })
                if (res.error) return res.error
                onChanged(`Robot account ${robot.name} deleted.`)
                return null
              }}
            >
              Delete
            </ConfirmButton>
          </div>
          {showError && toggle.error && <ErrorMessage error={toggle.error} title="Could not change the robot account" />}
        </td>
      )}
    </tr>
  )
}
