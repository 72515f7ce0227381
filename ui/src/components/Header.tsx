import { useEffect, useRef, useState } from 'react'
import { Link, NavLink, useLocation, useNavigate } from 'react-router'
import { useMutation } from 'urql'
import { graphql } from '../gql'
import { useRestartSession } from '../session'
import { ErrorMessage } from './ErrorMessage'
import { adminSections } from '../pages/admin/AdminHead'
import { usePermissions } from './permissions'
import { useViewer, type Viewer } from './viewer'

const LogoutMutation = graphql(`
  mutation Logout {
    logout
  }
`)

/** Header is the bar on every page but the login form: the name, the navigation and the user menu. */
export function Header() {
  const { viewer } = useViewer()
  const system = usePermissions(null)
  const administration = adminSections.some((s) => system.can(s.read))
  const location = useLocation()
  const next = encodeURIComponent(location.pathname + location.search)
  // On a narrow screen the navigation and the user menu fold behind a Menu button (CSS shows the
  // button below 700 px only); going to another page folds them again.
  const [unfolded, setUnfolded] = useState(false)
  useEffect(() => setUnfolded(false), [location.pathname])
  return (
    <header className={unfolded ? 'header unfolded' : 'header'}>
      <Link to="/projects" className="brand">
        Berth
      </Link>
      <button
        type="button"
        className="menu-toggle"
        aria-expanded={unfolded}
        aria-controls="main-nav header-end"
        onClick={() => setUnfolded(!unfolded)}
      >
        Menu
      </button>
      <nav aria-label="Main" id="main-nav">
        <NavLink to="/projects">Projects</NavLink>
        {viewer && !viewer.anonymous && <NavLink to="/exports">CVE exports</NavLink>}
        {administration && <NavLink to="/admin">Administration</NavLink>}
      </nav>
      <div className="header-end" id="header-end">
        {viewer && viewer.anonymous && (
          <Link to={`/login?next=${next}`} className="button">
            Log in
          </Link>
        )}
        {viewer && !viewer.anonymous && <UserMenu viewer={viewer} />}
      </div>
    </header>
  )
}

function UserMenu({ viewer }: { viewer: Viewer }) {
  const [open, setOpen] = useState(false)
  const [{ fetching, error }, logout] = useMutation(LogoutMutation)
  const restart = useRestartSession()
  const navigate = useNavigate()
  const root = useRef<HTMLDivElement>(null)
  const toggle = useRef<HTMLButtonElement>(null)

  // Close on Escape (giving focus back to the button) and on a click elsewhere.
  useEffect(() => {
    if (!open) return
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false)
        toggle.current?.focus()
      }
    }
    const onClick = (e: MouseEvent) => {
      if (root.current && !root.current.contains(e.target as Node)) setOpen(false)
    }
    document.addEventListener('keydown', onKey)
    document.addEventListener('mousedown', onClick)
    return () => {
      document.removeEventListener('keydown', onKey)
      document.removeEventListener('mousedown', onClick)
    }
  }, [open])

  const onLogout = async () => {
    const result = await logout({})
    if (result.error) return
    restart()
    navigate('/login')
  }

  const name = viewer.username ?? viewer.kind.toLowerCase()
  return (
    <div className="user-menu" ref={root}>
      <button
        type="button"
        ref={toggle}
        aria-expanded={open}
        aria-controls="user-menu-panel"
        onClick={() => setOpen(!open)}
      >
        <span className="sr-only">User menu for </span>
        {name} ▾
      </button>
      {open && (
        <div id="user-menu-panel" className="user-menu-panel">
          <p>
            Signed in as <strong>{name}</strong>
            {viewer.admin && <span className="badge">system admin</span>}
          </p>
          {viewer.kind === 'USER' && (
            <Link to="/tokens" onClick={() => setOpen(false)}>
              API tokens
            </Link>
          )}
          {error && <ErrorMessage error={error} title="Could not log out" />}
          <button type="button" onClick={onLogout} disabled={fetching}>
            Log out
          </button>
        </div>
      )}
    </div>
  )
}
