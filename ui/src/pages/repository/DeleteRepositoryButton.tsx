import { useMutation } from 'urql'
import { ConfirmButton } from '../../components/ConfirmButton'
import { graphql } from '../../gql'

const DeleteRepositoryMutation = graphql(`
  mutation DeleteRepository($id: ID!) {
    deleteRepository(id: $id)
  }
`)

/**
 * DeleteRepositoryButton deletes a repository and every artifact in it, after a confirmation that
 * names it. onDeleted runs once the server has done it (the list refreshes, or the page leaves).
 */
export function DeleteRepositoryButton({
  id,
  name,
  artifactCount,
  onDeleted,
  compact,
}: {
  id: string
  name: string
  artifactCount?: number
  onDeleted: () => void
  compact?: boolean
}) {
  const [, deleteRepository] = useMutation(DeleteRepositoryMutation)
  return (
    <ConfirmButton
      label={`Delete repository ${name}`}
      className={compact ? 'danger small' : 'danger'}
      title={`Delete ${name}?`}
      message={
        <p>
          Every artifact in <strong>{name}</strong>
          {artifactCount !== undefined && ` (${artifactCount})`}, with its tags, signatures and scan reports, is
          deleted. Pulls by tag or digest stop working. This cannot be undone.
        </p>
      }
      confirmLabel="Delete repository"
      onConfirm={async () => {
        const res = await deleteRepository({ id }, { additionalTypenames: ['Repository', 'Artifact', 'Project'] })
        if (res.error) return res.error
        onDeleted()
        return null
      }}
    >
      Delete{compact ? <span className="sr-only"> {name}</span> : ' repository'}
    </ConfirmButton>
  )
}
