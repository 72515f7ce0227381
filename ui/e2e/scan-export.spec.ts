import { expect, test } from '@playwright/test'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { crane, createProject, logIn, shot } from './helpers'
import { expectAccessible } from './axe'
import { uiDir } from './paths'

/** debianLayer writes a layer holding a Debian 12 os-release and the fixture's dpkg status. */
function debianLayer(): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-e2e-layer-'))
  mkdirSync(join(dir, 'etc'), { recursive: true })
  mkdirSync(join(dir, 'var/lib/dpkg'), { recursive: true })
  writeFileSync(join(dir, 'etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
  copyFileSync(resolve(uiDir, 'e2e/fixtures/dpkg-status'), join(dir, 'var/lib/dpkg/status'))
  const tar = join(dir, 'layer.tar')
  const r = spawnSync('tar', ['-C', dir, '-cf', tar, 'etc', 'var'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`)
  return tar
}

test('scan an image pushed by crane, export its CVEs, watch the progress reach 100% and download the file once', async ({ page }) => {
  const project = `e2e-cve-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, project)
  const host = new URL(page.url()).host
  crane('append', '-f', debianLayer(), '-t', `${host}/${project}/app:v1`)
  const digest = crane('digest', `${host}/${project}/app:v1`)

  // The repository lists it as not scanned; its page scans it.
  await page.goto(`/repositories/${project}/app`)
  await expect(page.getByRole('table').getByText('not scanned')).toBeVisible()
  await page.goto(`/repositories/${project}/app/artifacts/${digest}?tab=vulnerabilities`)
  const section = page.getByRole('region', { name: 'Vulnerabilities' })
  await expect(section).toContainText('Not scanned yet')
  await section.getByRole('button', { name: 'Scan' }).click()
  const findings = section.getByRole('table', { name: 'Vulnerabilities', exact: true })
  await expect(findings).toContainText('CVE-2023-45853', { timeout: 30_000 })
  // Each finding says what it is, under its id.
  await expect(findings.locator('.cve-description').first()).not.toBeEmpty()
  await expect(section.getByRole('img', { name: /vulnerabilities:/ })).toBeVisible()
  await expect(section.getByRole('table', { name: 'Vulnerabilities by severity' })).toBeVisible()
  await shot(page, 'artifact-vulnerabilities')

  // Filters narrow the list on the server.
  await section.getByLabel('CVE id starts with').fill('CVE-2023-45853')
  await section.getByRole('button', { name: 'Apply' }).click()
  await expect(findings.locator('tbody tr')).toHaveCount(1)
  await expect(section).toContainText('1 shown by these filters')

  // The repository list now shows the severity bar.
  await page.goto(`/repositories/${project}/app`)
  await expect(page.getByRole('img', { name: /vulnerabilities:/ })).toBeVisible()

  // Export from the project list.
  await page.goto('/projects')
  await page.getByRole('button', { name: 'Export CVEs' }).click()
  const dialog = page.getByRole('dialog', { name: 'Export CVEs' })
  await dialog.getByRole('checkbox', { name: project, exact: true }).check()
  await dialog.getByLabel('Repositories').fill('{app,other}')
  await dialog.getByLabel('Job name').fill(`export of ${project}`)
  await shot(page, 'export-dialog')
  await dialog.getByRole('button', { name: 'Start export' }).click()
  await expect(page).toHaveURL(/\/exports$/)
  const row = page.getByRole('row').filter({ hasText: `export of ${project}` })
  const progress = row.getByRole('progressbar')
  await expect(progress).toHaveAttribute('value', '100', { timeout: 30_000 })
  await expect(row).toContainText('Succeeded')
  // The filters name the project, not its id.
  await expect(row).toContainText(`project ${project}`)
  await shot(page, 'exports')

  await row.getByRole('button', { name: /Download CSV/ }).click()
  const warning = page.getByRole('dialog', { name: /^Download / })
  await expect(warning).toContainText('can be downloaded once')
  await expectAccessible(page, 'the one-time download warning')
  const link = warning.getByRole('link', { name: 'Download now' })
  const href = await link.getAttribute('href')
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
  expect(download.suggestedFilename()).toMatch(/\.csv$/)
  const csv = readFileSync(await download.path(), 'utf8')
  const lines = csv.trim().split(/\r?\n/)
  expect(lines[0]).toContain('CVE')
  expect(csv).toContain('CVE-2023-45853')
  expect(csv).toContain(`${project}/app`)
  // The button is gone, and the file with it: a second download is refused.
  await expect(link).toHaveCount(0)
  const again = await page.request.get(href ?? '')
  expect(again.status()).toBe(404)
})
