import { useEffect, useMemo, useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { roleNames, roles } from '../../components/access'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Time } from '../../components/Time'
import { useViewer } from '../../components/viewer'
import { graphql } from '../../gql'
import type { Role } from '../../gql/graphql'
import { useProject } from './context'

const MembersQuery = graphql(`
  query ProjectMembers($id: ID!) {
    project(id: $id) {
      id
      myRole
      memberList {
        id
        role
        createdAt
        user {
          id
          username
        }
      }
    }
  }
`)

const AddMemberMutation = graphql(`
  mutation AddMember($projectID: ID!, $username: String!, $role: Role!) {
    addMember(projectID: $projectID, username: $username, role: $role) {
      id
      role
    }
  }
`)

const UpdateMemberMutation = graphql(`
  mutation UpdateMember($id: ID!, $role: Role!) {
    updateMember(id: $id, role: $role) {
      id
      role
    }
  }
`)

const RemoveMemberMutation = graphql(`
  mutation RemoveMember($id: ID!) {
    removeMember(id: $id)
  }
`)

/**
 * MembersTab lists who belongs to the project and in which role. Project admins and system admins
 * also get the controls to add members, change roles and remove them.
 */
export function MembersTab() {
  const { project, access } = useProject()
  const { viewer } = useViewer()
  const context = useMemo(() => ({ additionalTypenames: ['Member'] }), [])
  const [result, refetch] = useQuery({ query: MembersQuery, variables: { id: project.id }, context })
  const members = result.data?.project?.memberList
  const [notice, setNotice] = useState<string | null>(null)
  const editable = access.manageMembers
  const reload = () => refetch({ requestPolicy: 'network-only' })

  return (
    <>
      <h2>Members</h2>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {editable && (
        <AddMemberForm
          projectID={project.id}
          onAdded={(username, role) => {
            setNotice(`${username} was added as ${roleNames[role]}.`)
            reload()
          }}
        />
      )}
      {result.error && <ErrorMessage error={result.error} title="Could not load the members" />}
      {!members && result.fetching && <p className="muted">Loading members…</p>}
      {members && members.length === 0 && (
        <div className="empty">
          <p>This project has no members{editable ? ' yet: add one above.' : '.'}</p>
        </div>
      )}
      {members && members.length > 0 && (
        <table>
          <caption className="sr-only">Members of {project.name}</caption>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Member since</th>
              {editable && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <MemberRow
                key={m.id}
                member={m}
                projectName={project.name}
                editable={editable}
                self={m.user.username === viewer?.username}
                onChanged={(text) => {
                  setNotice(text)
                  reload()
                }}
              />
            ))}
          </tbody>
        </table>
      )}
    </>
  )
}

const MemberCandidatesQuery = graphql(`
  query MemberCandidates($projectID: ID!, $prefix: String!) {
    memberCandidates(projectID: $projectID, prefix: $prefix)
  }
`)

function AddMemberForm({ projectID, onAdded }: { projectID: string; onAdded: (username: string, role: Role) => void }) {
  const [username, setUsername] = useState('')
  // Suggestions (a datalist) for what has been typed, asked once typing pauses.
  const [prefix, setPrefix] = useState('')
  useEffect(() => {
    const t = setTimeout(() => setPrefix(username.trim()), 250)
    return () => clearTimeout(t)
  }, [username])
  const [candidates] = useQuery({ query: MemberCandidatesQuery, variables: { projectID, prefix }, pause: prefix === '' })
  const suggestions = prefix ? (candidates.data?.memberCandidates ?? []) : []
  const [role, setRole] = useState<Role>('DEVELOPER')
  const [{ fetching, error }, add] = useMutation(AddMemberMutation)
  const [showError, setShowError] = useState(false)

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setShowError(true)
    const name = username.trim()
    const result = await add({ projectID, username: name, role })
    if (result.error) return
    setUsername('')
    setShowError(false)
    onAdded(name, role)
  }

  return (
    <form className="inline-form" onSubmit={onSubmit} aria-labelledby="add-member-title">
      <h3 id="add-member-title" className="sr-only">
        Add a member
      </h3>
      <div className="field">
        <label htmlFor="add-member-username">Username</label>
        <input
          id="add-member-username"
          required
          autoComplete="off"
          list="add-member-candidates"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        <datalist id="add-member-candidates">
          {suggestions.map((name) => (
            <option key={name} value={name} />
          ))}
        </datalist>
      </div>
      <div className="field">
        <label htmlFor="add-member-role">Role</label>
        <select id="add-member-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {roleNames[r]}
            </option>
          ))}
        </select>
      </div>
      <button type="submit" className="primary" disabled={fetching}>
        {fetching ? 'Adding…' : 'Add member'}
      </button>
      {showError && error && <ErrorMessage error={error} title="Could not add the member" />}
    </form>
  )
}

interface MemberRowProps {
  member: { id: string; role: Role; createdAt: string; user: { username: string } }
  projectName: string
  editable: boolean
  self: boolean
  onChanged: (notice: string) => void
}

function MemberRow({ member, projectName, editable, self, onChanged }: MemberRowProps) {
  const [role, setRole] = useState<Role>(member.role)
  const [update, updateMember] = useMutation(UpdateMemberMutation)
  const [, removeMember] = useMutation(RemoveMemberMutation)
  const [showError, setShowError] = useState(false)
  const username = member.user.username
  const selectID = `member-role-${member.id}`

  const save = async (e: FormEvent) => {
    e.preventDefault()
    setShowError(true)
    const result = await updateMember({ id: member.id, role })
    if (result.error) return
    setShowError(false)
    onChanged(`${username} is now ${roleNames[role]}.`)
  }

  return (
    <tr>
      <td>
        {username}
        {self && <span className="badge">you</span>}
      </td>
      <td>
        {editable ? (
          <form className="row-form" onSubmit={save}>
            <label htmlFor={selectID} className="sr-only">
              Role of {username}
            </label>
            <select id={selectID} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {roles.map((r) => (
                <option key={r} value={r}>
                  {roleNames[r]}
                </option>
              ))}
            </select>
            <button type="submit" disabled={role === member.role || update.fetching}>
              Save<span className="sr-only"> role of {username}</span>
            </button>
          </form>
        ) : (
          roleNames[member.role]
        )}
        {showError && update.error && <ErrorMessage error={update.error} title="Could not change the role" />}
      </td>
      <td>
        <Time value={member.createdAt} compact />
      </td>
      {editable && (
        <td className="row-actions">
          <ConfirmButton
            label={`Remove ${username}`}
            title={`Remove ${username}?`}
            message={
              <p>
                {self
                  ? `You are removing yourself: you will lose access to ${projectName} unless you are a system admin.`
                  : `${username} will lose access to ${projectName}.`}
              </p>
            }
            confirmLabel="Remove"
            onConfirm={async () => {
              const result = await removeMember({ id: member.id })
              if (result.error) return result.error
              onChanged(`${username} was removed from ${projectName}.`)
              return null
            }}
          >
            Remove
          </ConfirmButton>
        </td>
      )}
    </tr>
  )
}
