/** The signature status of an artifact, as the API reports it. */
export type SignatureStatus = 'VERIFIED' | 'UNVERIFIED' | 'UNSIGNED'

/**
 * SignatureBadge shows an artifact's signature status: verified (by which key), unverified (and
 * why), or unsigned.
 */
export function SignatureBadge({ status, keyName, reason }: { status: SignatureStatus; keyName?: string; reason?: string }) {
  if (status === 'VERIFIED') {
    return (
      <span className="badge status-succeeded" title={keyName ? `Verified by ${keyName}` : 'Verified'}>
        Verified{keyName ? ` · ${keyName}` : ''}
      </span>
    )
  }
  if (status === 'UNVERIFIED') {
    return (
      <span className="badge status-failed" title={reason || 'No trusted key verifies its signature'}>
        Unverified
      </span>
    )
  }
  return <span className="muted">Unsigned</span>
}
