import { expect, test, type Page } from '@playwright/test'
import { createServer, type Server } from 'node:net'
import { gql, logIn, shot } from './helpers'

/** syslogReceiver listens on a loopback TCP port and keeps what arrives, as a syslog server would. */
async function syslogReceiver(): Promise<{ server: Server; port: number; received: () => string }> {
  let data = ''
  const server = createServer((socket) => socket.on('data', (chunk) => (data += chunk.toString())))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('receiver has no port')
  return { server, port: address.port, received: () => data }
}

/** refreshUntil clicks the list's Refresh button until check passes: audit rows are written in batches. */
async function refreshUntil(page: Page, check: () => Promise<void>) {
  await expect(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click()
    await check()
  }).toPass({ timeout: 15_000 })
}

test('the audit log lists, filters and pages entries, for admins and project members', async ({ page }) => {
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Administration' }).click()
  await page.getByRole('navigation', { name: 'Administration sections' }).getByRole('link', { name: 'Audit log' }).click()
  await expect(page).toHaveURL(/\/admin\/audit-log$/)
  const log = page.getByRole('table', { name: 'Audit log' })
  // The push made by the test setup is there, as a create of the artifact.
  await refreshUntil(page, async () => {
    await expect(log.getByRole('row').filter({ hasText: 'library/e2e-hello:v1' }).filter({ hasText: 'create' })).not.toHaveCount(0)
  })

  // Filter to logins: this test's own login is there, and nothing else.
  await page.getByLabel('Operation').selectOption('login')
  await page.getByRole('button', { name: 'Apply filters' }).click()
  await expect(page).toHaveURL(/operation=login/)
  await refreshUntil(page, async () => {
    await expect(log.getByRole('row').filter({ hasText: 'admin' }).first()).toBeVisible()
  })
  for (const op of await log.locator('tbody tr td:nth-child(4)').allTextContents()) expect(op).toBe('login')
  await shot(page, 'admin-audit-log')

  // A resource glob that matches nothing says so.
  await page.getByLabel('Resource', { exact: true }).fill('nothing-here-*')
  await page.getByRole('button', { name: 'Apply filters' }).click()
  await expect(page.getByText('No entry matches these filters.')).toBeVisible()
  await page.getByRole('button', { name: 'Clear' }).click()
  await expect(page).toHaveURL(/\/admin\/audit-log$/)

  // The project's own log, from its Logs tab, shows the project's entries without a project column.
  await page.goto('/projects/library')
  await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Logs' }).click()
  await expect(page).toHaveURL(/\/projects\/library\/logs$/)
  const projectLog = page.getByRole('table', { name: 'Audit log' })
  await expect(projectLog.getByRole('row').filter({ hasText: 'library/e2e-hello:v1' }).first()).toBeVisible()
  await expect(projectLog.getByRole('columnheader', { name: 'Project' })).toHaveCount(0)
  await shot(page, 'project-logs')
})

test('configuration: a dead syslog endpoint is refused, a live one is saved and reported healthy', async ({ page }) => {
  const receiver = await syslogReceiver()
  try {
    await logIn(page)
    await expect(page).toHaveURL(/\/projects$/)
    await page.goto('/admin/configuration')

    // Nothing listens on the receiver's port once it is closed: find such a port first.
    const dead = await syslogReceiver()
    await new Promise<void>((resolve) => dead.server.close(() => resolve()))
    await page.getByLabel('Syslog endpoint').fill(`127.0.0.1:${dead.port}`)
    await page.getByRole('button', { name: 'Save configuration' }).click()
    await expect(page.getByRole('alert')).toContainText(`127.0.0.1:${dead.port}`)

    await page.getByLabel('Syslog endpoint').fill(`127.0.0.1:${receiver.port}`)
    await page.getByLabel('Protocol').selectOption('TCP')
    await page.getByRole('button', { name: 'Save configuration' }).click()
    await expect(page.getByRole('status')).toHaveText('Configuration saved.')

    // The change itself is audited, and the entry reaches the receiver as RFC 5424 with structured data.
    await expect.poll(() => receiver.received(), { timeout: 20_000 }).toContain('resource_type="configuration"')
    expect(receiver.received()).toMatch(/<\d+>1 \S+ \S+ berth - audit \[audit@\d+ [^\]]*user="admin"/)
    const health = page.getByRole('region', { name: 'Forwarder health' })
    await expect(health.getByText('Healthy')).toBeVisible({ timeout: 15_000 })
    await page.reload()
    await expect(page.getByLabel('Syslog endpoint')).toHaveValue(`127.0.0.1:${receiver.port}`)
    await shot(page, 'admin-configuration')
  } finally {
    // Leave the server as other tests expect it: not forwarding.
    await gql(page, 'mutation { updateAuditSettings(input: { forwardEndpoint: "", skipDatabase: false }) { forwardEndpoint } }')
    receiver.server.close()
  }
})

test('log rotation: a dry run counts and deletes nothing; a schedule is saved', async ({ page }) => {
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await page.goto('/admin/clean-up')
  await page.getByRole('navigation', { name: 'Clean-up sections' }).getByRole('link', { name: 'Log Rotation' }).click()
  await expect(page).toHaveURL(/\/admin\/clean-up\/log-rotation$/)

  // A retention out of range is refused before it reaches the server.
  const purge = page.getByRole('form', { name: 'Purge now' })
  await purge.getByLabel('Keep entries of the last (hours)').fill('0')
  await expect(purge.getByText('Retention must be a whole number of hours from 1 to 240000.')).toBeVisible()
  await expect(purge.getByRole('button', { name: 'Dry run' })).toBeDisabled()

  // Keep one hour: every entry this run made is younger, so the dry run counts nothing to purge.
  await purge.getByLabel('Keep entries of the last (hours)').fill('1')
  await purge.getByRole('button', { name: 'Dry run' }).click()
  await expect(purge.getByRole('status')).toContainText('Dry run started')
  const history = page.getByRole('table', { name: 'Purge runs' })
  const first = history.locator('tbody tr').first()
  await expect(first).toContainText('dry run')
  await expect(first).toContainText('Succeeded', { timeout: 20_000 })
  await expect(first).toContainText('0 would go')
  await first.getByRole('button', { name: /^Log/ }).click()
  await expect(history.locator('tr.details')).toContainText('purging entries before')

  const schedule = page.getByRole('form', { name: 'Purge schedule' })
  await schedule.getByLabel('Schedule').selectOption('CUSTOM')
  await schedule.getByLabel('Cron expression').fill('not a cron')
  await schedule.getByRole('button', { name: 'Save schedule' }).click()
  await expect(schedule.getByRole('alert')).toBeVisible()
  await schedule.getByLabel('Cron expression').fill('15 3 * * *')
  await schedule.getByLabel('Keep entries of the last (hours)').fill('2160')
  await schedule.getByRole('button', { name: 'Save schedule' }).click()
  await expect(schedule.getByRole('status')).toHaveText('Schedule saved.')
  await page.reload()
  const saved = page.getByRole('form', { name: 'Purge schedule' })
  await expect(saved.getByLabel('Schedule')).toHaveValue('CUSTOM')
  await expect(saved.getByLabel('Cron expression')).toHaveValue('15 3 * * *')
  await expect(saved.getByLabel('Keep entries of the last (hours)')).toHaveValue('2160')
  await expect(saved).toContainText('Next run:')
  await shot(page, 'admin-log-rotation')

  // Back to no schedule, so the run does not purge behind other tests.
  await saved.getByLabel('Schedule').selectOption('NONE')
  await saved.getByRole('button', { name: 'Save schedule' }).click()
  await expect(saved.getByRole('status')).toHaveText('Schedule saved.')
})
