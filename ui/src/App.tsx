import { Navigate, Route, Routes } from 'react-router'
import { Layout } from './components/Layout'
import { LoginPage } from './pages/login/LoginPage'
import { NotFoundPage } from './pages/not-found/NotFoundPage'
import { ProjectPage } from './pages/project/ProjectPage'
import { ProjectsPage } from './pages/projects/ProjectsPage'
import { RepositoryPage } from './pages/repository/RepositoryPage'

/** App maps addresses to pages. Repository names hold slashes, so their route takes the rest of the path. */
export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route element={<Layout />}>
        <Route index element={<Navigate to="/projects" replace />} />
        <Route path="/projects" element={<ProjectsPage />} />
        <Route path="/projects/:name" element={<ProjectPage />} />
        <Route path="/repositories/*" element={<RepositoryPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  )
}
