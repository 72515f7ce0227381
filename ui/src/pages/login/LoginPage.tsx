import { useState, type FormEvent } from 'react'
import { Link, useNavigate, useSearchParams } from 'react-router'
import { useMutation } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { useTitle } from '../../components/title'
import { graphql } from '../../gql'
import { useRestartSession } from '../../session'

const LoginMutation = graphql(`
  mutation Login($username: String!, $password: String!) {
    login(username: $username, password: $password) {
      kind
      user {
        id
        username
      }
    }
  }
`)

// safeNext keeps the redirect inside the dashboard: a link to /login?next=https://elsewhere must
// not send a freshly signed-in user to another site.
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/projects'
}

/** LoginPage signs a user in; the server sets an HttpOnly session cookie. */
export function LoginPage() {
  useTitle('Log in')
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [{ fetching, error }, login] = useMutation(LoginMutation)
  const [params] = useSearchParams()
  const navigate = useNavigate()
  const restart = useRestartSession()

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    const result = await login({ username, password })
    if (result.error || !result.data) return
    restart()
    navigate(safeNext(params.get('next')), { replace: true })
  }

  return (
    <main id="main" className="login">
      <form className="card login-card" onSubmit={onSubmit} aria-labelledby="login-title">
        <h1 id="login-title">Log in to Berth</h1>
        {error && <ErrorMessage error={error} />}
        <label htmlFor="login-username">Username</label>
        <input
          id="login-username"
          name="username"
          autoComplete="username"
          autoFocus
          required
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        <label htmlFor="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <button type="submit" className="primary" disabled={fetching}>
          {fetching ? 'Logging in…' : 'Log in'}
        </button>
        <p className="muted">
          Or <Link to="/projects">browse public projects</Link> without an account.
        </p>
      </form>
    </main>
  )
}
