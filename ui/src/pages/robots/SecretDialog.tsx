import { useEffect, useId, useRef, type ReactNode } from 'react'
import { CopyButton } from '../../components/CopyButton'

/**
 * SecretDialog shows a secret the server gives only once, with a copy button, a warning and an
 * example of its use. It opens as soon as it is rendered; onClose lets the parent forget the secret.
 */
export function SecretDialog({
  title,
  secretLabel,
  secret,
  testID,
  children,
  warning,
  onClose,
}: {
  title: string
  secretLabel: string
  secret: string
  testID: string
  children?: ReactNode
  warning: ReactNode
  onClose: () => void
}) {
  const dialog = useRef<HTMLDialogElement>(null)
  const id = useId()
  useEffect(() => {
    if (!dialog.current?.open) dialog.current?.showModal()
  }, [])
  return (
    <dialog ref={dialog} aria-labelledby={`${id}-title`} className="dialog wide" onClose={onClose}>
      <form method="dialog" className="secret">
        <h2 id={`${id}-title`}>{title}</h2>
        <h3 id={`${id}-secret-title`} className="label">
          {secretLabel}
        </h3>
        <div className="command" role="group" aria-labelledby={`${id}-secret-title`}>
          <code data-testid={testID}>{secret}</code>
          <CopyButton text={secret} label={`Copy ${secretLabel.toLowerCase()}`} />
        </div>
        <p className="warning" role="note">
          <strong>Shown only once.</strong> {warning}
        </p>
        {children}
        <div className="actions">
          <button type="submit" className="primary" autoFocus>
            Done
          </button>
        </div>
      </form>
    </dialog>
  )
}

/** Example is a command to copy, with its own heading. */
export function Example({ title, command }: { title: string; command: string }) {
  const id = useId()
  return (
    <>
      <h3 id={id} className="label">
        {title}
      </h3>
      <div className="command" role="group" aria-labelledby={id}>
        <code>{command}</code>
        <CopyButton text={command} label={`Copy ${title.toLowerCase()}`} />
      </div>
    </>
  )
}
