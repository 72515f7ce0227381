/** A CVE id: CVE-, the year, then four or more digits (CVE-2024-1234). */
const cveID = /^CVE-\d{4}-\d{4,}$/
/** Another database's id, which the server accepts too (GHSA-xxxx-xxxx-xxxx, GO-2024-1234). */
const otherID = /^[A-Z][A-Z0-9]*-[A-Za-z0-9._:-]+$/

/**
 * parseAllowlist reads a textarea of CVE ids, one a line: blank lines are skipped, ids are trimmed,
 * CVE ids upper-cased, and all kept once. Other databases' ids (GHSA-…) pass, as the server takes
 * them. It returns the ids, or a sentence naming the lines that are not ids. The server checks
 * again; this only spares a round trip.
 */
export function parseAllowlist(text: string): { ids: string[]; error: string | null } {
  const ids: string[] = []
  const bad: string[] = []
  for (const line of text.split('\n')) {
    let id = line.trim()
    if (!id) continue
    if (/^cve-/i.test(id)) id = id.toUpperCase()
    if (id.startsWith('CVE-') ? !cveID.test(id) : !otherID.test(id)) bad.push(line.trim())
    else if (!ids.includes(id)) ids.push(id)
  }
  if (bad.length > 0) {
    const quoted = bad.slice(0, 3).map((b) => `“${b}”`).join(', ')
    const more = bad.length > 3 ? ` and ${bad.length - 3} more` : ''
    return {
      ids,
      error: `${quoted}${more} ${bad.length === 1 ? 'is not a CVE id' : 'are not CVE ids'}: write one id a line, such as CVE-2024-1234.`,
    }
  }
  return { ids, error: null }
}

/** allowlistText is the textarea's text for a list of ids. */
export function allowlistText(ids: readonly string[] | null | undefined): string {
  return (ids ?? []).join('\n')
}

/** sameList reports whether two lists hold the same ids in the same order. */
export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}
