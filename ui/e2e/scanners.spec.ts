import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { closedPort, createProject, gql, logIn, shot } from './helpers'

const metadataType = 'application/vnd.scanner.adapter.metadata+json; version=1.0'
const apiKey = 'e2e-adapter-key'

/**
 * adapter is a pluggable scanner adapter that only knows its metadata (protocol v1.1), and only
 * for a caller with the right API key, as a real adapter behind a key would.
 */
async function adapter(): Promise<{ server: Server; url: string; asked: () => number }> {
  let asked = 0
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/api/v1/metadata') {
      res.writeHead(404).end('not found')
      return
    }
    if (req.headers['x-scanneradapter-api-key'] !== apiKey) {
      res.writeHead(401).end('wrong API key')
      return
    }
    asked++
    res.writeHead(200, { 'content-type': metadataType })
    res.end(
      JSON.stringify({
        scanner: { name: 'E2E Scan', vendor: 'Berth E2E', version: '9.9.1' },
        capabilities: [
          {
            consumes_mime_types: ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'],
            produces_mime_types: ['application/vnd.security.vulnerability.report; version=1.1'],
          },
        ],
        properties: {},
      }),
    )
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked: () => asked }
}

test('scanners are listed, tested, added, made default, disabled and removed; allowlists are saved', async ({ page }) => {
  const suffix = randomBytes(3).toString('hex')
  const name = `e2e-adapter-${suffix}`
  const projectName = `e2e-scanning-${suffix}`
  const { server, url, asked } = await adapter()
  try {
    await logIn(page)
    await expect(page).toHaveURL(/\/projects$/)
    await createProject(page, projectName)

    // The built-in scanner is there from the start, the default, with its advisory database.
    await page.goto('/admin/users')
    await page.getByRole('navigation', { name: 'Administration sections' }).getByRole('link', { name: 'Scanners' }).click()
    await expect(page).toHaveURL(/\/admin\/scanners$/)
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Scanners')
    const builtin = page.locator('tbody tr', { hasText: 'Built-in' })
    await expect(builtin).toHaveCount(1)
    await expect(builtin.locator('td').first()).toContainText('Berth')
    await expect(builtin.getByText('Default', { exact: true })).toBeVisible()
    await expect(builtin).toContainText(/\d+ advisor(y|ies) in its database/)
    await expect(builtin.getByRole('button', { name: /^Remove/ })).toHaveCount(0)

    // An adapter that does not answer: Test connection shows the server's reason.
    await page.getByRole('button', { name: 'Add scanner' }).click()
    const dialog = page.getByRole('dialog', { name: 'Add scanner' })
    await dialog.getByLabel('Name').fill(name)
    await dialog.getByLabel('Description').fill('Answers its metadata, for the browser tests')
    await dialog.getByLabel('Adapter URL').fill(`http://127.0.0.1:${await closedPort()}`)
    await dialog.getByRole('button', { name: 'Test connection' }).click()
    await expect(dialog.getByRole('alert')).toContainText('Test connection failed')
    await expect(dialog.getByRole('alert')).toContainText('connection refused')
    await shot(page, 'scanner-test-failed')

    // The right address without its key is refused by the adapter, and Berth says so.
    await dialog.getByLabel('Adapter URL').fill(url)
    await dialog.getByRole('button', { name: 'Test connection' }).click()
    await expect(dialog.getByRole('alert')).toContainText('401')

    // With the key, the adapter describes itself.
    await dialog.getByLabel('Authentication').selectOption('API_KEY')
    await dialog.getByLabel('API key').fill(apiKey)
    await dialog.getByRole('button', { name: 'Test connection' }).click()
    const metadata = dialog.getByRole('status')
    await expect(metadata).toContainText('Connected.')
    await expect(metadata).toContainText('E2E Scan')
    await expect(metadata).toContainText('Berth E2E')
    await expect(metadata).toContainText('9.9.1')
    await expect(metadata).toContainText('application/vnd.oci.image.manifest.v1+json')
    await shot(page, 'scanner-test-connection')
    await dialog.getByRole('button', { name: 'Add', exact: true }).click()
    await expect(dialog).toBeHidden()
    await expect(page.getByRole('status')).toHaveText(`Scanner ${name} added.`)
    expect(asked()).toBeGreaterThanOrEqual(2)

    const row = page.locator('tbody tr', { hasText: name })
    await expect(row).toContainText(url)
    await expect(row).toContainText('API key authentication')
    await expect(row).toContainText('Berth E2E')
    await expect(row).toContainText('Enabled')
    await expect(row.getByText('Default', { exact: true })).toHaveCount(0)
    await shot(page, 'scanners')

    // The project chooses the new scanner and allowlists two CVEs; both survive a reload.
    await page.goto(`/projects/${projectName}/settings`)
    const scanner = page.getByLabel('Scanner', { exact: true })
    await expect(scanner).toHaveValue('')
    await scanner.selectOption({ label: name })
    const projectAllowlist = page.getByLabel('CVE allowlist, one id a line')
    await projectAllowlist.fill('CVE-2023-45853\nnot a cve')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await expect(page.getByRole('alert')).toContainText('“not a cve” is not a CVE id')
    await projectAllowlist.fill('CVE-2023-45853\n\n  cve-2024-2398  \n')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await expect(page.getByRole('status')).toHaveText('Settings saved.')
    await page.reload()
    await expect(page.getByLabel('CVE allowlist, one id a line')).toHaveValue('CVE-2023-45853\nCVE-2024-2398')
    await expect(page.getByLabel('Scanner', { exact: true }).locator('option:checked')).toHaveText(name)
    await shot(page, 'project-scan-settings')

    // Make it the default, then the built-in one again.
    await page.goto('/admin/scanners')
    await row.getByRole('button', { name: `Set default scanner ${name}` }).click()
    await expect(page.getByRole('status')).toHaveText(`${name} is now the default scanner.`)
    await expect(row.getByText('Default', { exact: true })).toBeVisible()
    await expect(builtin.getByText('Default', { exact: true })).toHaveCount(0)
    // The default cannot be removed, so it offers no Remove.
    await expect(row.getByRole('button', { name: `Remove scanner ${name}` })).toHaveCount(0)
    await builtin.getByRole('button', { name: 'Set default scanner Berth' }).click()
    await expect(page.getByRole('status')).toHaveText('Berth is now the default scanner.')
    await expect(builtin.getByText('Default', { exact: true })).toBeVisible()
    await expect(row.getByText('Default', { exact: true })).toHaveCount(0)

    // Disable it: it may no longer become the default.
    await row.getByRole('button', { name: `Disable scanner ${name}` }).click()
    await expect(page.getByRole('status')).toHaveText(`${name} is disabled.`)
    await expect(row).toContainText('Disabled')
    await expect(row.getByRole('button', { name: `Set default scanner ${name}` })).toBeDisabled()
    await shot(page, 'scanner-disabled')

    // Remove it, after the confirmation; the project falls back to the default scanner.
    await row.getByRole('button', { name: `Remove scanner ${name}` }).click()
    const confirm = page.getByRole('dialog', { name: `Remove scanner ${name}?` })
    await expect(confirm).toContainText('use the default scanner again')
    await confirm.getByRole('button', { name: 'Remove scanner' }).click()
    await expect(confirm).toBeHidden()
    await expect(page.getByRole('status')).toHaveText(`Scanner ${name} removed.`)
    await expect(row).toHaveCount(0)
    await page.goto(`/projects/${projectName}/settings`)
    await expect(page.getByLabel('Scanner', { exact: true })).toHaveValue('')
    await expect(page.getByLabel('CVE allowlist, one id a line')).toHaveValue('CVE-2023-45853\nCVE-2024-2398')

    // Scan all now queues every image and says so.
    await page.goto('/admin/scanners')
    await page.getByRole('button', { name: 'Scan all now' }).click()
    await expect(page.getByRole('status')).toContainText('Every image is queued for a scan')
  } finally {
    server.closeAllConnections() // Berth keeps connections to the adapter open for reuse
    await new Promise<void>((ok) => server.close(() => ok()))
  }
})

test('the system CVE allowlist is checked, saved and shown again after a reload', async ({ page }) => {
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  try {
    await page.goto('/admin/scanners')
    const allowlist = page.getByLabel('CVE ids, one a line')
    await expect(allowlist).toBeEnabled()
    const save = page.getByRole('button', { name: 'Save allowlist' })

    // Not an id: said before the server is asked.
    await allowlist.fill('CVE-2024-1234\nCVE-24-1\nlog4shell')
    await save.click()
    await expect(page.getByRole('alert')).toHaveText(
      '“CVE-24-1”, “log4shell” are not CVE ids: write one id a line, such as CVE-2024-1234.',
    )
    await expect(allowlist).toHaveAttribute('aria-invalid', 'true')

    // Ids are trimmed, CVE ids upper-cased, all kept once; other databases' ids are taken too.
    await allowlist.fill('CVE-2024-1234\n cve-2023-45853\n\nCVE-2024-1234\nGHSA-jfh8-c2jp-5v3q\n')
    await save.click()
    await expect(page.getByRole('status')).toHaveText('System allowlist saved.')
    await page.reload()
    await expect(page.getByLabel('CVE ids, one a line')).toHaveValue('CVE-2024-1234\nCVE-2023-45853\nGHSA-jfh8-c2jp-5v3q')
    await expect(save).toBeDisabled()
    await shot(page, 'system-allowlist')
    const data = await gql<{ systemCVEAllowlist: string[] }>(page, '{ systemCVEAllowlist }')
    expect(data.systemCVEAllowlist).toEqual(['CVE-2024-1234', 'CVE-2023-45853', 'GHSA-jfh8-c2jp-5v3q'])
  } finally {
    // Other tests' pull-prevention checks expect no system allowlist.
    await gql(page, 'mutation { setSystemCVEAllowlist(cveIDs: []) }')
  }
})
