import { useState, type FormEvent } from 'react'
import { useNavigate } from 'react-router'
import { useMutation } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'
import type { ProjectSeverityThreshold } from '../../gql/graphql'
import { useProject } from './context'
import { LabelsSection } from './LabelsSection'

const UpdateProjectMutation = graphql(`
  mutation UpdateProject($id: ID!, $input: UpdateProjectInput!) {
    updateProject(id: $id, input: $input) {
      id
      public
      autoScan
      preventVulnerable
      severityThreshold
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
  const [{ fetching, error }, update] = useMutation(UpdateProjectMutation)
  const [, deleteProject] = useMutation(DeleteProjectMutation)
  const [saved, setSaved] = useState(false)
  const [showError, setShowError] = useState(false)
  const readOnly = !access.updateProject
  const changed =
    isPublic !== project.public ||
    autoScan !== project.autoScan ||
    preventVulnerable !== project.preventVulnerable ||
    severity !== project.severityThreshold

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setSaved(false)
    setShowError(true)
    const result = await update({
      id: project.id,
      input: { public: isPublic, autoScan, preventVulnerable, severityThreshold: severity },
    })
    if (result.error) return
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

      <LabelsSection projectID={project.id} editable={access.updateProject} />

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
