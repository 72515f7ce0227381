import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { adminPassword, closedPort, crane, createProject, digest, logIn, shot } from './helpers'

test('an endpoint is tested and added, a policy replicates an image and its execution is followed', async ({ page }) => {
  const suffix = randomBytes(3).toString('hex')
  const target = `e2e-replica-${suffix}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, target)

  await page.goto('/admin/users')
  await page.getByRole('navigation', { name: 'Administration sections' }).getByRole('link', { name: 'Replication' }).click()
  await expect(page).toHaveURL(/\/admin\/replication$/)
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Replication')

  // Test connection says what failed, in plain words.
  const form = page.getByRole('form', { name: 'New registry endpoint' })
  await form.getByLabel('Name', { exact: true }).fill(`self-${suffix}`)
  await form.getByLabel('Type').selectOption('berth')
  await form.getByLabel('URL').fill(`http://127.0.0.1:${await closedPort()}`)
  await form.getByRole('button', { name: 'Test connection' }).click()
  await expect(form.getByRole('status')).toContainText('connection refused')

  // This very Berth, as a remote: a wrong secret first, then the admin's.
  await form.getByLabel('URL').fill(page.url().replace(/\/admin\/replication$/, ''))
  await form.getByLabel('Credential').selectOption('basic')
  await form.getByLabel('Access key (user or robot name)').fill('admin')
  await form.getByLabel('Secret').fill('not-the-password')
  await form.getByRole('button', { name: 'Test connection' }).click()
  await expect(form.getByRole('status')).toContainText('authentication failed')
  await form.getByLabel('Secret').fill(adminPassword())
  await form.getByRole('button', { name: 'Test connection' }).click()
  await expect(form.getByRole('status')).toHaveText('Connection OK')
  await form.getByRole('button', { name: 'Add endpoint' }).click()
  await expect(form.getByRole('status')).toHaveText(`Endpoint self-${suffix} added.`)
  const endpointRow = page.getByRole('table', { name: 'Registry endpoints' }).locator('tbody tr', { hasText: `self-${suffix}` })
  await expect(endpointRow).toContainText('(secret stored)')
  await expect(page.getByText(adminPassword())).toHaveCount(0)

  // A push-based policy into the new project, flattened by one level.
  const policyForm = page.getByRole('form', { name: 'New replication policy' })
  await policyForm.getByLabel('Name', { exact: true }).fill(`copy-${suffix}`)
  const endpointSelect = policyForm.getByLabel('Endpoint')
  const endpointID = await endpointSelect.locator('option', { hasText: `self-${suffix}` }).getAttribute('value')
  await endpointSelect.selectOption(endpointID ?? '')
  await policyForm.getByLabel('Repository filter').fill('library/e2e-hello')
  await policyForm.getByLabel('Destination namespace').fill(target)
  await policyForm.getByLabel('Flattening').selectOption('1')
  await policyForm.getByRole('button', { name: 'Add policy' }).click()
  await expect(policyForm.getByRole('status')).toHaveText(`Policy copy-${suffix} added.`)

  const policyRow = page.getByRole('table', { name: 'Replication policies' }).locator('tbody tr', { hasText: `copy-${suffix}` })
  await expect(policyRow).toContainText('never run')
  await policyRow.getByRole('button', { name: `Replicate now copy-${suffix}` }).click()

  const executions = page.getByRole('table', { name: 'Replication executions' })
  const run = executions.locator('tbody tr', { hasText: `copy-${suffix}` }).first()
  await expect(run).toContainText('Succeeded', { timeout: 30_000 })
  await expect(run).toContainText('1 copied, 0 failed, 0 skipped')
  // The policy's last execution follows.
  await expect(policyRow).toContainText('Succeeded')
  await expect(policyRow).toContainText('1/1 copied')
  await run.getByRole('button', { name: /^Tasks/ }).click()
  await expect(page.getByRole('table', { name: /^Tasks of execution/ })).toContainText(`${target}/e2e-hello:v1`)
  await shot(page, 'replication')

  // What landed is what left.
  const host = new URL(page.url()).host
  expect(crane('digest', `${host}/${target}/e2e-hello:v1`)).toBe(digest())
})
