// Where the dashboard's pages live, for links between them.

/** repositoryPath is a repository's page; its name keeps its slashes. */
export function repositoryPath(repository: string): string {
  return `/repositories/${repository}`
}

/** artifactPath is an artifact's page, by digest so that it never moves. */
export function artifactPath(repository: string, digest: string): string {
  return `/repositories/${repository}/artifacts/${digest}`
}

// A repository name never holds a colon and a digest always does, so the split is unambiguous
// even for a repository with a path component called "artifacts".
const artifactRE = /^(.+)\/artifacts\/([a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)\/?$/

/** parseRepositoryPath splits what follows /repositories/ into a repository and, maybe, a digest. */
export function parseRepositoryPath(rest: string): { repository: string; digest?: string } {
  const m = artifactRE.exec(rest)
  if (m) return { repository: m[1], digest: m[2] }
  return { repository: rest.replace(/\/+$/, '') }
}
