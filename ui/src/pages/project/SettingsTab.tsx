import { useState, type FormEvent } from 'react'
import { useNavigate } from 'react-router'
import { useMutation, useQuery } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { usePermissions } from '../../components/permissions'
import { graphql } from '../../gql'
import type { ProjectSeverityThreshold } from '../../gql/graphql'
import { useProject } from './context'
import { LabelsSection } from './LabelsSection'
import { TrustPolicySection } from './TrustPolicySection'
import { allowlistText, parseAllowlist, sameList } from '../scanners/allowlist'

const UpdateProjectMutation = graphql(`
  mutation UpdateProject($id: ID!, $input: UpdateProjectInput!) {
    updateProject(id: $id, input: $input) {
      id
      public
      autoScan
      preventVulnerable
      severityThreshold
      cveAllowlist
      scannerID
    }
  }
`)

// Only system admins may list the scanners, so only they choose a project's scanner here.
const ScannerChoicesQuery = graphql(`
  query ScannerChoices {
    scanners {
      id
      name
      enabled
      isDefault
    }
  }
`)

const DeleteProjectMutation = graphql(`
  mutation DeleteProject($id: ID!) {
    deleteProject(id: $id)
  }
`)

const severities: { value: ProjectSeverityThreshold; label: string }[] = [
  { value: 'LOW', label: 'Low' },
  { value: 'MEDIUM', label: 'Medium' },
  { value: 'HIGH', label: 'High' },
  { value: 'CRITICAL', label: 'Critical' },
]

/**
 * SettingsTab edits the project's access and scanning policy, and deletes the project. Members who
 * may not change them see them read-only.
 */
export function SettingsTab() {
  const { project, access } = useProject()
  const navigate = useNavigate()
  const [isPublic, setPublic] = useState(project.public)
  const [autoScan, setAutoScan] = useState(project.autoScan)
  const [preventVulnerable, setPreventVulnerable] = useState(project.preventVulnerable)
  const [severity, setSeverity] = useState<ProjectSeverityThreshold>(project.severityThreshold)
  const [allowlist, setAllowlist] = useState(allowlistText(project.cveAllowlist))
  const [allowlistError, setAllowlistError] = useState<string | null>(null)
  const [scannerID, setScannerID] = useState(project.scannerID == null ? '' : String(project.scannerID))
  const system = usePermissions(null)
  const [scannersResult] = useQuery({ query: ScannerChoicesQuery, pause: !system.can('scanner:read') })
  const scanners = scannersResult.data?.scanners
  const defaultScanner = scanners?.find((s) => s.isDefault)
  const current = project.scannerID == null ? '' : String(project.scannerID)
  const [{ fetching, error }, update] = useMutation(UpdateProjectMutation)
  const [, deleteProject] = useMutation(DeleteProjectMutation)
  const [saved, setSaved] = useState(false)
  const [showError, setShowError] = useState(false)
  const readOnly = !access.updateProject
  const changed =
    isPublic !== project.public ||
    autoScan !== project.autoScan ||
    preventVulnerable !== project.preventVulnerable ||
    severity !== project.severityThreshold ||
    !sameList(parseAllowlist(allowlist).ids, project.cveAllowlist ?? []) ||
    !!parseAllowlist(allowlist).error ||
    (!!scanners && scannerID !== current)

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setSaved(false)
    const { ids, error: invalid } = parseAllowlist(allowlist)
    setAllowlistError(invalid)
    if (invalid) return
    setShowError(true)
    // The scanner is sent only by those who could see the choices, so no one clears it unknowingly.
    const scanner = !scanners ? {} : scannerID ? { scannerID: Number(scannerID) } : { clearScannerID: true }
    const result = await update({
      id: project.id,
      input: { public: isPublic, autoScan, preventVulnerable, severityThreshold: severity, cveAllowlist: ids, ...scanner },
    })
    if (result.error || !result.data) return
    setAllowlist(allowlistText(result.data.updateProject.cveAllowlist))
    setShowError(false)
    setSaved(true)
  }

  return (
    <>
      <h2>Settings</h2>
      {readOnly && <p className="muted">Only project admins and maintainers may change these settings.</p>}
      <form className="panel settings" onSubmit={onSubmit}>
        <fieldset disabled={readOnly}>
          <legend className="sr-only">Project settings</legend>
          <label className="check">
            <input
              type="checkbox"
              checked={isPublic}
              onChange={(e) => {
                setPublic(e.target.checked)
                setSaved(false)
              }}
            />
            Public
          </label>
          <p className="help indent">Anyone may pull from a public project, even without logging in.</p>
          <label className="check">
            <input
              type="checkbox"
              checked={autoScan}
              onChange={(e) => {
                setAutoScan(e.target.checked)
                setSaved(false)
              }}
            />
            Scan artifacts when they are pushed
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={preventVulnerable}
              aria-describedby="severity-help"
              onChange={(e) => {
                setPreventVulnerable(e.target.checked)
                setSaved(false)
              }}
            />
            Prevent pulls of vulnerable artifacts
          </label>
          <div className="field indent">
            <label htmlFor="severity-threshold">Severity threshold</label>
            <select
              id="severity-threshold"
              value={severity}
              aria-describedby="severity-help"
              onChange={(e) => {
                setSeverity(e.target.value as ProjectSeverityThreshold)
                setSaved(false)
              }}
            >
              {severities.map((s) => (
                <option key={s.value} value={s.value}>
                  {s.label}
                </option>
              ))}
            </select>
            <p id="severity-help" className="help">
              With “Prevent pulls” on, artifacts with a vulnerability at or above this severity cannot be pulled.
            </p>
          </div>
          <div className="field indent">
            <label htmlFor="project-allowlist">CVE allowlist, one id a line</label>
            <textarea
              id="project-allowlist"
              rows={5}
              spellCheck={false}
              placeholder={'CVE-2024-1234\nCVE-2023-45853'}
              aria-describedby={allowlistError ? 'project-allowlist-help project-allowlist-invalid' : 'project-allowlist-help'}
              aria-invalid={allowlistError ? true : undefined}
              value={allowlist}
              onChange={(e) => {
                setAllowlist(e.target.value)
                setAllowlistError(null)
                setSaved(false)
              }}
            />
            <p id="project-allowlist-help" className="help">
              Pull prevention ignores these vulnerabilities in this project, as it does those of the system allowlist.
            </p>
            {allowlistError && (
              <div id="project-allowlist-invalid" className="error" role="alert">
                {allowlistError}
              </div>
            )}
          </div>
          {scanners ? (
            <div className="field">
              <label htmlFor="project-scanner">Scanner</label>
              <select
                id="project-scanner"
                value={scannerID}
                aria-describedby="project-scanner-help"
                onChange={(e) => {
                  setScannerID(e.target.value)
                  setSaved(false)
                }}
              >
                <option value="">The default scanner{defaultScanner ? ` (${defaultScanner.name})` : ''}</option>
                {scanners
                  .filter((s) => s.enabled || s.id === current)
                  .map((s) => (
                    <option key={s.id} value={s.id}>
                      {s.enabled ? s.name : `${s.name} (disabled)`}
                    </option>
                  ))}
              </select>
              <p id="project-scanner-help" className="help">
                Scans of this project’s artifacts, on push or on demand, use this scanner.
              </p>
            </div>
          ) : (
            <p className="help">
              Scanner: {project.scannerID == null ? 'the default scanner' : 'one chosen by a system administrator'}.
            </p>
          )}
        </fieldset>
        {showError && error && <ErrorMessage error={error} title="Could not save the settings" />}
        {saved && (
          <p className="notice" role="status">
            Settings saved.
          </p>
        )}
        {!readOnly && (
          <div className="actions start">
            <button type="submit" className="primary" disabled={fetching || !changed}>
              {fetching ? 'Saving…' : 'Save settings'}
            </button>
          </div>
        )}
      </form>

      <LabelsSection projectID={project.id} editable={access.manageLabels} />

      <TrustPolicySection projectID={project.id} canUpdateProject={access.updateProject} />

      {access.deleteProject && (
        <section className="panel danger-zone" aria-labelledby="delete-project-title">
          <h3 id="delete-project-title">Delete this project</h3>
          <p>A project can be deleted only once it holds no repositories.</p>
          <ConfirmButton
            title={`Delete project ${project.name}?`}
            message={
              <p>
                The project, its members, labels and webhook policies are deleted. This cannot be undone.
              </p>
            }
            confirmLabel="Delete project"
            onConfirm={async () => {
              const result = await deleteProject({ id: project.id })
              if (result.error) return result.error
              navigate('/projects', { replace: true })
              return null
            }}
          >
            Delete project
          </ConfirmButton>
        </section>
      )}
    </>
  )
}
