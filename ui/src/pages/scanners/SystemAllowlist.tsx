import { useEffect, useState, type FormEvent } from 'react'
import { useMutation, useQuery } from 'urql'
import { ErrorMessage } from '../../components/ErrorMessage'
import { graphql } from '../../gql'
import { allowlistText, parseAllowlist, sameList } from './allowlist'

const SystemAllowlistQuery = graphql(`
  query SystemCVEAllowlist {
    systemCVEAllowlist
  }
`)

const SetSystemAllowlistMutation = graphql(`
  mutation SetSystemCVEAllowlist($cveIDs: [String!]!) {
    setSystemCVEAllowlist(cveIDs: $cveIDs)
  }
`)

/**
 * SystemAllowlist edits the CVE ids that pull prevention ignores in every project, one a line. The
 * ids are checked here for a clear message before the server, which decides, checks them again.
 */
export function SystemAllowlist() {
  const [result, refetch] = useQuery({ query: SystemAllowlistQuery })
  const saved = result.data?.systemCVEAllowlist
  const [text, setText] = useState('')
  const [invalid, setInvalid] = useState<string | null>(null)
  const [done, setDone] = useState(false)
  const [tried, setTried] = useState(false)
  const [save, setAllowlist] = useMutation(SetSystemAllowlistMutation)

  // Show what the server holds once it arrives (and after each save).
  useEffect(() => {
    if (saved) setText(allowlistText(saved))
  }, [saved])

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault()
    setDone(false)
    const { ids, error } = parseAllowlist(text)
    setInvalid(error)
    if (error) return
    setTried(true)
    const res = await setAllowlist({ cveIDs: ids })
    if (res.error || !res.data) return
    setTried(false)
    setText(allowlistText(res.data.setSystemCVEAllowlist))
    setDone(true)
    refetch({ requestPolicy: 'network-only' })
  }

  const unchanged = !!saved && sameList(parseAllowlist(text).ids, saved) && !parseAllowlist(text).error

  return (
    <section className="panel settings allowlist" aria-labelledby="system-allowlist-title">
      <h2 id="system-allowlist-title">System CVE allowlist</h2>
      <p className="help">
        Pull prevention ignores these vulnerabilities in every project, besides each project’s own allowlist.
      </p>
      {result.error && <ErrorMessage error={result.error} title="Could not load the allowlist" />}
      <form onSubmit={onSubmit}>
        <div className="field">
          <label htmlFor="system-allowlist">CVE ids, one a line</label>
          <textarea
            id="system-allowlist"
            rows={6}
            spellCheck={false}
            placeholder={'CVE-2024-1234\nCVE-2023-45853'}
            aria-describedby={invalid ? 'system-allowlist-invalid' : undefined}
            aria-invalid={invalid ? true : undefined}
            disabled={!saved}
            value={text}
            onChange={(e) => {
              setText(e.target.value)
              setInvalid(null)
              setDone(false)
            }}
          />
        </div>
        {invalid && (
          <div id="system-allowlist-invalid" className="error" role="alert">
            {invalid}
          </div>
        )}
        {tried && save.error && <ErrorMessage error={save.error} title="Could not save the allowlist" />}
        {done && (
          <p className="notice" role="status">
            System allowlist saved{saved && saved.length === 0 ? ': it is empty' : ''}.
          </p>
        )}
        <div className="actions start">
          <button type="submit" className="primary" disabled={save.fetching || !saved || unchanged}>
            {save.fetching ? 'Saving…' : 'Save allowlist'}
          </button>
        </div>
      </form>
    </section>
  )
}
