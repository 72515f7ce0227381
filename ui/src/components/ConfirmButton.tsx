import { useId, useRef, useState, type ReactNode } from 'react'
import { createPortal } from 'react-dom'
import type { CombinedError } from 'urql'
import { ErrorMessage } from './ErrorMessage'

/**
 * ConfirmButton is a button for something that cannot be undone: it opens a modal that says what
 * will happen, and runs onConfirm only after a second, explicit click. onConfirm resolves to the
 * server's refusal, if any, which the dialog then shows (it stays open so the user can read it).
 * Focus starts on Cancel, so an absent-minded Enter does nothing harmful. The dialog is rendered
 * into <body>, so a button in a table cell or a list item does not carry a dialog inside it.
 */
export function ConfirmButton({
  children,
  label,
  title,
  message,
  confirmLabel,
  onConfirm,
  className = 'danger',
  disabled,
}: {
  /** What the button says. */
  children: ReactNode
  /** A fuller name for screen readers, when the button's text alone is ambiguous ("Remove alice"). */
  label?: string
  title: string
  message: ReactNode
  confirmLabel: string
  onConfirm: () => Promise<CombinedError | string | null | undefined>
  className?: string
  disabled?: boolean
}) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<CombinedError | string | null>(null)
  const id = useId()

  const open = () => {
    setError(null)
    dialog.current?.showModal()
  }
  const confirm = async () => {
    setBusy(true)
    setError(null)
    try {
      const err = await onConfirm()
      if (err) setError(err)
      else dialog.current?.close()
    } finally {
      setBusy(false)
    }
  }

  return (
    <>
      <button type="button" className={className} aria-label={label} onClick={open} disabled={disabled}>
        {children}
      </button>
      {createPortal(
        <dialog ref={dialog} className="dialog" aria-labelledby={`${id}-title`} aria-describedby={`${id}-message`}>
          <form method="dialog" onSubmit={(e) => e.preventDefault()}>
            <h2 id={`${id}-title`}>{title}</h2>
            <div id={`${id}-message`}>{message}</div>
            {error && <ErrorMessage error={error} />}
            <div className="actions">
              <button type="button" autoFocus onClick={() => dialog.current?.close()}>
                Cancel
              </button>
              <button type="button" className="danger primary" onClick={confirm} disabled={busy}>
                {busy ? 'Working…' : confirmLabel}
              </button>
            </div>
          </form>
        </dialog>,
        document.body,
      )}
    </>
  )
}
