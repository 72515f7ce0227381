import { Link } from 'react-router'
import { useTitle } from '../../components/title'

/** NotFoundPage answers an address the dashboard has no page for. */
export function NotFoundPage() {
  useTitle('Not found')
  return (
    <div className="empty">
      <h1>Page not found</h1>
      <p>
        There is no page at this address. <Link to="/projects">Go to the projects</Link>.
      </p>
    </div>
  )
}
