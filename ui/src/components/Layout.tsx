import { Outlet } from 'react-router'
import { Header } from './Header'

/** Layout frames every page that has the header. */
export function Layout() {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  )
}
