import { useEffect, useMemo, useState } from 'react'
import { useSearchParams } from 'react-router'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { Pager, usePage } from '../../components/Pager'
import { Time } from '../../components/Time'
import { useTitle } from '../../components/title'
import { usePermissions } from '../../components/permissions'
import { useViewer } from '../../components/viewer'
import { graphql } from '../../gql'
import type { UsersQuery } from '../../gql/graphql'
import { AdminHead } from '../admin/AdminHead'
import { NewUserDialog } from './NewUserDialog'

const UsersQueryDocument = graphql(`
  query Users($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: UserWhereInput) {
    users(
      first: $first
      after: $after
      last: $last
      before: $before
      where: $where
      orderBy: { field: USERNAME, direction: ASC }
    ) {
      totalCount
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
      edges {
        node {
          id
          username
          email
          fullName
          admin
          disabled
          createdAt
          lastLoginAt
        }
      }
    }
  }
`)

const UpdateUserMutation = graphql(`
  mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {
    updateUser(id: $id, input: $input) {
      id
      admin
      disabled
    }
  }
`)

const DeleteUserMutation = graphql(`
  mutation DeleteUser($id: ID!) {
    deleteUser(id: $id)
  }
`)

type User = NonNullable<NonNullable<NonNullable<UsersQuery['users']['edges']>[number]>['node']>

/** UsersPage is Administration → Users: every account, a page at a time, for system admins. */
export function UsersPage() {
  useTitle('Users')
  const { viewer } = useViewer()
  const system = usePermissions(null)
  const [params, setParams] = useSearchParams()
  const search = params.get('q') ?? ''
  const [typed, setTyped] = useState(search)
  const page = usePage()
  const [notice, setNotice] = useState<string | null>(null)

  // Search as the admin types, once they pause; a new search starts at the first page.
  useEffect(() => {
    if (typed.trim() === search) return
    const t = setTimeout(() => {
      const p = new URLSearchParams()
      if (typed.trim()) p.set('q', typed.trim())
      setParams(p, { replace: true })
    }, 250)
    return () => clearTimeout(t)
  }, [typed, search, setParams])

  const context = useMemo(() => ({ additionalTypenames: ['User'] }), [])
  const [result, refetch] = useQuery({
    query: UsersQueryDocument,
    variables: { ...page.variables, where: search ? { usernameContains: search } : undefined },
    context,
    pause: !system.can('user:list'),
  })
  const users = result.data?.users
  const rows = users?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? []
  const reload = () => refetch({ requestPolicy: 'network-only' })
  const changed = (text: string) => {
    setNotice(text)
    reload()
  }

  return (
    <AdminHead title="Users" read="user:list" manage="user:create" actions={<NewUserDialog onCreated={(name) => changed(`User ${name} created.`)} />}>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <form className="toolbar" role="search" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="user-search">Search users</label>
        <input
          id="user-search"
          type="search"
          placeholder="Username contains…"
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
        />
        {users && (
          <span className="muted count">
            {users.totalCount} {users.totalCount === 1 ? 'user' : 'users'}
          </span>
        )}
      </form>
      {result.error && <ErrorMessage error={result.error} title="Could not load the users" />}
      {!users && result.fetching && <p className="muted">Loading users…</p>}
      {users && rows.length === 0 && (
        <div className="empty">{search ? <p>No username contains “{search}”.</p> : <p>No users yet.</p>}</div>
      )}
      {rows.length > 0 && (
        <table>
          <caption className="sr-only">Users</caption>
          <thead>
            <tr>
              <th scope="col">Username</th>
              <th scope="col">Name and email</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Last login</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((u) => (
              <UserRow key={u.id} user={u} self={u.username === viewer?.username} onChanged={changed} />
            ))}
          </tbody>
        </table>
      )}
      {users && <Pager page={page} pageInfo={users.pageInfo} label="Users" />}
    </AdminHead>
  )
}

function UserRow({ user, self, onChanged }: { user: User; self: boolean; onChanged: (notice: string) => void }) {
  const [update, updateUser] = useMutation(UpdateUserMutation)
  const [, deleteUser] = useMutation(DeleteUserMutation)
  const [showError, setShowError] = useState(false)

  const set = async (input: { admin?: boolean; disabled?: boolean }, done: string) => {
    setShowError(true)
    const result = await updateUser({ id: user.id, input })
    if (result.error) return
    setShowError(false)
    onChanged(done)
  }

  return (
    <tr>
      <td>
        <strong>{user.username}</strong>
        {self && <span className="badge">you</span>}
      </td>
      <td>
        {user.fullName && <div>{user.fullName}</div>}
        {user.email && <div className="muted">{user.email}</div>}
        {!user.fullName && !user.email && <span className="muted">–</span>}
      </td>
      <td>{user.admin ? <span className="badge public">System admin</span> : 'User'}</td>
      <td>{user.disabled ? <span className="badge status-failed">Disabled</span> : 'Active'}</td>
      <td>
        <Time value={user.lastLoginAt} compact />
      </td>
      <td className="row-actions">
        {self ? (
          <span className="muted">This is you</span>
        ) : (
          <div className="button-row">
            <button
              type="button"
              disabled={update.fetching}
              onClick={() =>
                set({ admin: !user.admin }, user.admin ? `${user.username} is no longer a system admin.` : `${user.username} is now a system admin.`)
              }
            >
              {user.admin ? 'Revoke admin' : 'Make admin'}
              <span className="sr-only"> for {user.username}</span>
            </button>
            <button
              type="button"
              disabled={update.fetching}
              onClick={() =>
                set({ disabled: !user.disabled }, user.disabled ? `${user.username} may log in again.` : `${user.username} is disabled.`)
              }
            >
              {user.disabled ? 'Enable' : 'Disable'}
              <span className="sr-only"> {user.username}</span>
            </button>
            <ConfirmButton
              label={`Delete user ${user.username}`}
              title={`Delete user ${user.username}?`}
              message={
                <p>
                  The account, its sessions and its project memberships are deleted. Disabling it instead keeps them.
                </p>
              }
              confirmLabel="Delete user"
              onConfirm={async () => {
                const res = await deleteUser({ id: user.id })
                if (res.error) return res.error
                onChanged(`User ${user.username} deleted.`)
                return null
              }}
            >
              Delete
            </ConfirmButton>
          </div>
        )}
        {showError && update.error && <ErrorMessage error={update.error} title="Could not change the user" />}
      </td>
    </tr>
  )
}
