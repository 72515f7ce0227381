import { test, type Locator, type Page } from '@playwright/test'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { logIn } from './helpers'
import { artifactsDir } from './paths'

// How long the dashboard's pages take to show their content in a real browser, on a project with
// ARTIFACTS artifacts in one repository (and REPOSITORIES repositories): the target is under a
// second each. Printed, and written to test-artifacts/e2e/render-bench.txt; never pass/fail.
const ARTIFACTS = 10_000
const REPOSITORIES = 200
const RUNS = 5

/** seed writes the project straight into the database: pushing 10,000 images would take minutes. */
function seed() {
  const sql = `
    BEGIN;
    INSERT INTO projects (name, public, created_at, updated_at) VALUES ('bench-render', false, now(), now());
    INSERT INTO repositories (name, project_id, created_at, updated_at)
      SELECT 'bench-render/app' || CASE WHEN n = 1 THEN '' ELSE '-' || n END, p.id, now(), now()
      FROM projects p, generate_series(1, ${REPOSITORIES}) n WHERE p.name = 'bench-render';
    INSERT INTO blobs (digest, media_type, size, created_at, updated_at)
      SELECT 'sha256:' || encode(sha256(('bench-blob-' || n)::bytea), 'hex'),
             'application/vnd.oci.image.layer.v1.tar+gzip', 1000 + n, now(), now()
      FROM generate_series(1, ${ARTIFACTS}) n;
    INSERT INTO artifacts (digest, media_type, size, push_time, repository_id)
      SELECT 'sha256:' || encode(sha256(('bench-artifact-' || n)::bytea), 'hex'),
             'application/vnd.oci.image.manifest.v1+json', 2000 + n, now() - n * interval '1 second', r.id
      FROM repositories r, generate_series(1, ${ARTIFACTS}) n WHERE r.name = 'bench-render/app';
    INSERT INTO tags (name, push_time, artifact_id, repository_id)
      SELECT 'v' || a.id, a.push_time, a.id, a.repository_id
      FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE r.name = 'bench-render/app';
    INSERT INTO artifact_blobs (artifact_id, blob_id)
      SELECT a.id, b.id FROM artifacts a
      JOIN repositories r ON r.id = a.repository_id AND r.name = 'bench-render/app'
      JOIN blobs b ON b.digest = 'sha256:' || encode(sha256(('bench-blob-' || (a.size - 2000))::bytea), 'hex');
    COMMIT;
    ANALYZE;`
  const r = spawnSync('psql', [process.env.BERTH_E2E_DATABASE_URL ?? '', '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`seeding: ${r.error?.message ?? r.stderr}`)
}

/** timeTo loads url and returns the milliseconds until ready is visible, each run from a fresh load. */
async function timeTo(page: Page, url: string, ready: (page: Page) => Locator): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < RUNS; i++) {
    await page.goto('about:blank')
    const start = Date.now()
    await page.goto(url)
    await ready(page).first().waitFor({ state: 'visible', timeout: 30_000 })
    times.push(Date.now() - start)
  }
  return times
}

test('pages render on a project with 10,000 artifacts', async ({ page }) => {
  seed()
  await logIn(page)
  await page.waitForURL(/\/projects$/)
  const res = await page.request.post('/graphql', {
    data: { query: '{ repository(name: "bench-render/app") { artifacts(first: 1) { edges { node { digest } } } } }' },
  })
  const digest: string = (await res.json()).data.repository.artifacts.edges[0].node.digest

  const pages: [string, string, (p: Page) => Locator][] = [
    ['projects list', '/projects?q=bench-render', (p) => p.getByRole('link', { name: 'bench-render', exact: true })],
    [`project (${REPOSITORIES} repositories)`, '/projects/bench-render', (p) => p.getByRole('link', { name: 'bench-render/app', exact: true })],
    [`repository (${ARTIFACTS} artifacts)`, '/repositories/bench-render/app', (p) => p.locator('code.digest')],
    ['artifact', `/repositories/bench-render/app/artifacts/${digest}`, (p) => p.getByRole('heading', { name: 'Layers' })],
    ['project audit log', '/projects/bench-render/logs', (p) => p.getByText(/entr(y|ies)|Nothing has been recorded/)],
  ]
  const lines = [`page render times, ${RUNS} fresh loads each (ms from navigation to content visible)`, '']
  for (const [name, url, ready] of pages) {
    const t = await timeTo(page, url, ready)
    const sorted = [...t].sort((a, b) => a - b)
    lines.push(`${name.padEnd(32)} median ${String(sorted[Math.floor(RUNS / 2)]).padStart(5)}   max ${String(sorted[RUNS - 1]).padStart(5)}`)
  }
  // The database statements one load of the repository page costs (every query it sends: the
  // artifact table's page of 25 with tags, scan overviews, platforms, accessories and signatures,
  // and the page's permissions), from the server's berth_db_queries_total.
  const statements = async () => {
    const text = await (await page.request.get('/metrics')).text()
    const m = /^berth_db_queries_total (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text)
    return m ? Number(m[1]) : NaN
  }
  const perLoad: number[] = []
  for (let i = 0; i < RUNS; i++) {
    await page.goto('about:blank')
    const before = await statements()
    await page.goto('/repositories/bench-render/app')
    await page.locator('code.digest').first().waitFor({ state: 'visible', timeout: 30_000 })
    await page.waitForLoadState('networkidle')
    perLoad.push((await statements()) - before)
  }
  lines.push('', `repository page, 25 artifacts: database statements per load ${perLoad.join(', ')}`)
  const report = lines.join('\n')
  console.log(report)
  writeFileSync(join(artifactsDir, 'render-bench.txt'), report + '\n')
})
