import { useRef, useState, type FormEvent } from 'react'
import { useMutation } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'

const CreateUserMutation = graphql(`
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) {
      id
      username
    }
  }
`)

/** NewUserDialog is the "New user" button and its modal form (system admins only). */
export function NewUserDialog({ onCreated }: { onCreated: (username: string) => void }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [email, setEmail] = useState('')
  const [fullName, setFullName] = useState('')
  const [admin, setAdmin] = useState(false)
  const [{ fetching, error }, create] = useMutation(CreateUserMutation)
  const [showError, setShowError] = useState(false)

  const open = () => {
    setUsername('')
    setPassword('')
    setEmail('')
    setFullName('')
    setAdmin(false)
    setShowError(false)
    dialog.current?.showModal()
  }

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setShowError(true)
    const result = await create({
      input: {
        username: username.trim(),
        password,
        email: email.trim() || undefined,
        fullName: fullName.trim() || undefined,
        admin,
      },
    })
    if (result.error || !result.data) return
    setPassword('')
    dialog.current?.close()
    onCreated(result.data.createUser.username)
  }

  return (
    <>
      <button type="button" className="primary" onClick={open}>
        New user
      </button>
      <dialog ref={dialog} aria-labelledby="new-user-title" className="dialog" onClose={() => setPassword('')}>
        <form onSubmit={onSubmit}>
          <h2 id="new-user-title">New user</h2>
          {showError && error && <ErrorMessage error={error} />}
          <label htmlFor="new-user-username">Username</label>
          <input
            id="new-user-username"
            required
            autoComplete="off"
            aria-describedby="new-user-username-help"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
          <p id="new-user-username-help" className="help">
            Letters, digits, “.”, “_” and “-”. It is how the user logs in, to the dashboard and to docker.
          </p>
          <label htmlFor="new-user-password">Password</label>
          <input
            id="new-user-password"
            type="password"
            required
            autoComplete="new-password"
            minLength={8}
            maxLength={128}
            aria-describedby="new-user-password-help"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <p id="new-user-password-help" className="help">
            8 to 128 characters, with an upper-case letter, a lower-case letter and a digit. Tell the user, who can change it after logging in.
          </p>
          <label htmlFor="new-user-email">
            Email <span className="muted">(optional)</span>
          </label>
          <input id="new-user-email" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />
          <label htmlFor="new-user-full-name">
            Full name <span className="muted">(optional)</span>
          </label>
          <input id="new-user-full-name" autoComplete="off" value={fullName} onChange={(e) => setFullName(e.target.value)} />
          <label className="check">
            <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} />
            System administrator: may do everything, in every project
          </label>
          <div className="actions">
            <button type="button" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={fetching}>
              {fetching ? 'Creating…' : 'Create'}
            </button>
          </div>
        </form>
      </dialog>
    </>
  )
}
