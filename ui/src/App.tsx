import { Navigate, Route, Routes, useParams } from 'react-router'
import { Layout } from './components/Layout'
import { parseRepositoryPath } from './paths'
import { ArtifactPage } from './pages/artifact/ArtifactPage'
import { AuditLogPage } from './pages/audit/AuditLogPage'
import { CleanUpPage } from './pages/cleanup/CleanUpPage'
import { GCTab } from './pages/cleanup/GCTab'
import { LogRotationTab } from './pages/cleanup/LogRotationTab'
import { ConfigurationPage } from './pages/configuration/ConfigurationPage'
import { ExportsPage } from './pages/exports/ExportsPage'
import { LoginPage } from './pages/login/LoginPage'
import { NotFoundPage } from './pages/not-found/NotFoundPage'
import { LogsTab } from './pages/project/LogsTab'
import { MembersTab } from './pages/project/MembersTab'
import { ProjectPage } from './pages/project/ProjectPage'
import { RepositoriesTab } from './pages/project/RepositoriesTab'
import { RobotsTab } from './pages/project/RobotsTab'
import { RetentionTab } from './pages/project/RetentionTab'
import { ImmutabilityTab } from './pages/project/ImmutabilityTab'
import { SummaryTab } from './pages/project/SummaryTab'
import { SettingsTab } from './pages/project/SettingsTab'
import { WebhooksTab } from './pages/project/WebhooksTab'
import { ProjectsPage } from './pages/projects/ProjectsPage'
import { ReplicationPage } from './pages/replication/ReplicationPage'
import { RepositoryPage } from './pages/repository/RepositoryPage'
import { SystemRobotsPage } from './pages/robots/SystemRobotsPage'
import { TokensPage } from './pages/tokens/TokensPage'
import { ScannersPage } from './pages/scanners/ScannersPage'
import { UsersPage } from './pages/users/UsersPage'

/**
 * App maps addresses to pages. Repository names hold slashes, so their route takes the rest of the
 * path, and an artifact's page is that path followed by /artifacts/<digest>.
 */
export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route element={<Layout />}>
        <Route index element={<Navigate to="/projects" replace />} />
        <Route path="/projects" element={<ProjectsPage />} />
        <Route path="/projects/:name" element={<ProjectPage />}>
          <Route index element={<RepositoriesTab />} />
          <Route path="members" element={<MembersTab />} />
          <Route path="settings" element={<SettingsTab />} />
          <Route path="webhooks" element={<WebhooksTab />} />
          <Route path="logs" element={<LogsTab />} />
          <Route path="robots" element={<RobotsTab />} />
          <Route path="retention" element={<RetentionTab />} />
          <Route path="immutability" element={<ImmutabilityTab />} />
          <Route path="summary" element={<SummaryTab />} />
        </Route>
        <Route path="/repositories/*" element={<RepositoryOrArtifact />} />
        <Route path="/exports" element={<ExportsPage />} />
        <Route path="/tokens" element={<TokensPage />} />
        <Route path="/admin" element={<Navigate to="/admin/users" replace />} />
        <Route path="/admin/users" element={<UsersPage />} />
        <Route path="/admin/robots" element={<SystemRobotsPage />} />
        <Route path="/admin/audit-log" element={<AuditLogPage />} />
        <Route path="/admin/configuration" element={<ConfigurationPage />} />
        <Route path="/admin/scanners" element={<ScannersPage />} />
        <Route path="/admin/replication" element={<ReplicationPage />} />
        <Route path="/admin/clean-up" element={<CleanUpPage />}>
          <Route index element={<Navigate to="gc" replace />} />
          <Route path="gc" element={<GCTab />} />
          <Route path="log-rotation" element={<LogRotationTab />} />
        </Route>
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  )
}

function RepositoryOrArtifact() {
  const { repository, digest } = parseRepositoryPath(useParams()['*'] ?? '')
  // The key gives each artifact a fresh page, with none of the previous one's form state.
  return digest ? <ArtifactPage key={`${repository}@${digest}`} repository={repository} digest={digest} /> : <RepositoryPage />
}
