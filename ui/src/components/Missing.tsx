import { Link, useLocation } from 'react-router'
import { useViewer } from './viewer'

/**
 * Missing says that something is not there. The server answers the same for "does not exist" and
 * "you may not see it", so an anonymous visitor is offered the login form too.
 */
export function Missing({ what }: { what: string }) {
  const { viewer } = useViewer()
  const location = useLocation()
  return (
    <div className="empty">
      <p>{what} does not exist, or you may not see it.</p>
      <p>
        {viewer?.anonymous && (
          <>
            <Link to={`/login?next=${encodeURIComponent(location.pathname)}`}>Log in</Link> to see private projects, or go{' '}
          </>
        )}
        <Link to="/projects">back to the projects</Link>.
      </p>
    </div>
  )
}
