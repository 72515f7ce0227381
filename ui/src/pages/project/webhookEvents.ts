import type { EventType, WebhookPolicyPayloadFormat } from '../../gql/graphql'

/** eventTypeNames are the event types as people read them. */
export const eventTypeNames: Record<EventType, string> = {
  ARTIFACT_PUSHED: 'Artifact pushed',
  ARTIFACT_PULLED: 'Artifact pulled',
  ARTIFACT_DELETED: 'Artifact deleted',
  TAG_CREATED: 'Tag created',
  TAG_DELETED: 'Tag deleted',
  REPOSITORY_DELETED: 'Repository deleted',
  PROJECT_CREATED: 'Project created',
  PROJECT_DELETED: 'Project deleted',
  PURGE_PROGRESS: 'Audit purge progress',
  PURGE_COMPLETED: 'Audit purge completed',
  EXPORT_STARTED: 'CVE export started',
  EXPORT_PROGRESS: 'CVE export progress',
  EXPORT_COMPLETED: 'CVE export completed',
  EXPORT_FAILED: 'CVE export failed',
  GC_STARTED: 'Garbage collection started',
  GC_PROGRESS: 'Garbage collection progress',
  GC_COMPLETED: 'Garbage collection completed',
  SCAN_STARTED: 'Scan started',
  SCAN_COMPLETED: 'Scan completed',
  SCAN_FAILED: 'Scan failed',
  SCAN_STOPPED: 'Scan stopped',
  REPLICATION_STARTED: 'Replication started',
  REPLICATION_PROGRESS: 'Replication progress',
  REPLICATION_COMPLETED: 'Replication completed',
  SIGNATURE_VERIFIED: 'Signature verified',
  SIGNATURE_FAILED: 'Signature not verified',
  QUOTA_WARNING: 'Quota warning',
  QUOTA_EXCEED: 'Quota exceeded',
  RETENTION_STARTED: 'Tag retention started',
  RETENTION_PROGRESS: 'Tag retention progress',
  RETENTION_COMPLETED: 'Tag retention completed',
}

/**
 * webhookEventTypes are the types a project's policy is offered: the server's event.WebhookTypes.
 * Job events belong to no project, and a project's policies do not exist yet when it is created and
 * are gone (deleted with it) when it is deleted, so the server refuses those types for a new policy;
 * a policy that already lists one keeps it when edited.
 */
export const webhookEventTypes: EventType[] = [
  'ARTIFACT_PUSHED',
  'ARTIFACT_PULLED',
  'ARTIFACT_DELETED',
  'TAG_CREATED',
  'TAG_DELETED',
  'REPOSITORY_DELETED',
  'SIGNATURE_VERIFIED',
  'SIGNATURE_FAILED',
  'QUOTA_WARNING',
  'QUOTA_EXCEED',
  'RETENTION_COMPLETED',
]

/** payloadFormatNames are the body formats a receiver can ask for. */
export const payloadFormatNames: Record<WebhookPolicyPayloadFormat, string> = {
  HARBOR: 'Harbor',
  CLOUDEVENTS: 'CloudEvents',
}
