import { expect, test } from '@playwright/test'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { dropDatabase, freePort, stopServer, waitReady } from './global-setup'
import { shot } from './helpers'
import { uiDir } from './paths'

// A Berth of this test's own (its own database and data directory), so that stopping it mid-session
// disturbs no other test. It comes back on the same port, database and data, as after an outage.

test('after the server is stopped and started again, the page recovers by itself: queries and subscriptions', async ({ page }) => {
  test.setTimeout(150_000)
  const bin = resolve(uiDir, process.env.BERTH_BIN || '../bin/berth')
  const tmp = mkdtempSync(join(tmpdir(), 'berth-outage-'))
  const port = await freePort()
  const host = `127.0.0.1:${port}`
  const url = `http://${host}`
  const database = `berth_e2e_outage_${randomBytes(5).toString('hex')}`
  const password = `E2e1-${randomBytes(12).toString('hex')}`
  let output = ''
  const start = async (): Promise<ChildProcess> => {
    const server = spawn(bin, ['serve'], {
      env: {
        ...process.env,
        BERTH_ADDR: host,
        DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${database}?sslmode=disable`,
        BERTH_DATA_DIR: join(tmp, 'data'),
        BERTH_ADMIN_PASSWORD: password,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8_000))
    server.stdout?.on('data', keep)
    server.stderr?.on('data', keep)
    await waitReady(url, server, () => output)
    return server
  }
  const docker = join(tmp, 'docker')
  const crane = (...args: string[]) => {
    const r = spawnSync(process.env.BERTH_E2E_CRANE ?? 'crane', [...args, '--insecure'], {
      env: { ...process.env, DOCKER_CONFIG: docker },
      encoding: 'utf8',
      timeout: 60_000,
    })
    if (r.status !== 0) throw new Error(`crane ${args.join(' ')}: ${r.stderr}`)
  }

  let server = await start()
  try {
    crane('auth', 'login', host, '-u', 'admin', '-p', password)
    crane('append', '-f', process.env.BERTH_E2E_LAYER ?? '', '-t', `${host}/library/app:v1`)

    await page.goto(`${url}/login`)
    await page.getByLabel('Username').fill('admin')
    await page.getByLabel('Password').fill(password)
    await page.getByRole('button', { name: 'Log in' }).click()
    await expect(page).toHaveURL(/\/projects$/)
    await page.goto(`${url}/repositories/library/app`)
    const tags = page.getByRole('table', { name: 'Artifacts in library/app' }).locator('tbody > tr:not(.accessory) .tag')
    await expect(tags).toHaveText(['v1'])

    // A change that finds no server says so, without Retry now: nothing repeats a mutation, so the
    // button would do nothing.
    await page.goto(`${url}/projects/library/settings`)
    await page.getByLabel('Scan artifacts when they are pushed').click()
    await stopServer(server)
    await page.getByRole('button', { name: 'Save settings' }).click()
    const saveError = page.getByRole('alert').filter({ hasText: 'Could not save the settings' })
    await expect(saveError).toContainText('Could not reach the Berth server', { timeout: 20_000 })
    await expect(saveError.getByRole('button', { name: 'Retry now' })).toHaveCount(0)
    server = await start()
    await page.goto(`${url}/repositories/library/app`)
    await expect(tags).toHaveText(['v1'])

    // The outage: the page's next question finds no server, and says so, with Retry now.
    await stopServer(server)
    await page.getByRole('link', { name: 'library', exact: true }).click()
    const alert = page.getByRole('alert')
    await expect(alert).toContainText('Could not reach the Berth server', { timeout: 20_000 })
    await expect(alert.getByRole('button', { name: 'Retry now' })).toBeVisible()
    await shot(page, 'outage')

    // Back: the error goes and the repositories come, with nobody touching the page.
    server = await start()
    await expect(alert).toHaveCount(0, { timeout: 30_000 })
    await expect(page.getByRole('link', { name: 'library/app' })).toBeVisible()

    // The live updates' subscription came back too: a push shows up on the repository page.
    await page.getByRole('link', { name: 'library/app' }).click()
    await expect(tags).toHaveText(['v1'])
    await stopServer(server)
    await page.waitForTimeout(1_000) // the socket notices the drop; nothing to poll for
    server = await start()
    crane('mutate', `${host}/library/app:v1`, '--label', 'outage=over', '-t', `${host}/library/app:v2`)
    await expect(tags).toHaveText(['v2', 'v1'], { timeout: 30_000 })
  } finally {
    await stopServer(server)
    dropDatabase(database)
    rmSync(tmp, { recursive: true, force: true })
  }
})
