import { expect, test } from '@playwright/test'
import { crane, gql, logIn, shot } from './helpers'

test('garbage collection: a dry run reports and deletes nothing; a schedule is saved; uploads are purged', async ({ page }) => {
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Administration' }).click()
  await page.getByRole('navigation', { name: 'Administration sections' }).getByRole('link', { name: 'Clean Up' }).click()
  await expect(page).toHaveURL(/\/admin\/clean-up\/gc$/)

  const run = page.getByRole('form', { name: 'Run garbage collection' })
  await run.getByLabel('Workers').selectOption('4')
  await run.getByRole('button', { name: 'Dry run', exact: true }).click()
  await expect(run.getByRole('status')).toContainText('Dry run started')
  const history = page.getByRole('table', { name: 'Garbage collection runs' })
  const first = history.locator('tbody tr').first()
  await expect(first).toContainText('Garbage collection')
  await expect(first).toContainText('dry run')
  await expect(first).toContainText('Succeeded', { timeout: 30_000 })
  // Everything the setup pushed is referenced and recent: nothing would go.
  await expect(first).toContainText('0 blobs (0 manifests), would free 0 B')
  await first.getByRole('button', { name: /^Log/ }).click()
  await expect(history.locator('tr.details')).toContainText('would be deleted')
  await shot(page, 'admin-gc')

  // The pushed image is still there, whole.
  const res = await page.request.get('/v2/library/e2e-hello/manifests/v1', {
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  })
  expect(res.status()).toBe(200)

  await run.getByRole('button', { name: 'Purge uploads (dry run)' }).click()
  await expect(history.locator('tbody tr').first()).toContainText('Upload purge')
  await expect(history.locator('tbody tr').first()).toContainText('Succeeded', { timeout: 30_000 })

  const schedule = page.getByRole('form', { name: 'Garbage collection schedule' })
  await schedule.getByLabel('Schedule').selectOption('WEEKLY')
  await schedule.getByLabel('Workers').selectOption('8')
  await schedule.getByRole('checkbox', { name: /Delete untagged/ }).check()
  await schedule.getByRole('button', { name: 'Save schedule' }).click()
  await expect(schedule.getByRole('status')).toHaveText('Schedule saved.')
  await page.reload()
  const saved = page.getByRole('form', { name: 'Garbage collection schedule' })
  await expect(saved.getByLabel('Schedule')).toHaveValue('WEEKLY')
  await expect(saved.getByLabel('Workers')).toHaveValue('8')
  await expect(saved).toContainText('Next run:')
  await shot(page, 'admin-gc-schedule')
  await saved.getByLabel('Schedule').selectOption('NONE')
  await saved.getByRole('button', { name: 'Save schedule' }).click()
  await expect(saved.getByRole('status')).toHaveText('Schedule saved.')
})

test('garbage collection says how many untagged artifacts its time window kept', async ({ page }) => {
  const host = process.env.BERTH_E2E_HOST ?? ''
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  // An untagged artifact pushed just now: the window protects it.
  crane('mutate', `${host}/library/e2e-hello:v1`, '--label', 'gc=window', '-t', `${host}/library/e2e-gc-window:tmp`)
  const { artifact } = await gql<{ artifact: { tags: { id: string }[] } }>(
    page,
    'query { artifact(repository: "library/e2e-gc-window", reference: "tmp") { tags { id } } }',
  )
  await gql(page, 'mutation($id: ID!) { deleteTag(id: $id) }', { id: artifact.tags[0].id })

  await page.goto('/admin/clean-up/gc')
  const run = page.getByRole('form', { name: 'Run garbage collection' })
  await run.getByRole('checkbox', { name: /Delete untagged/ }).check()
  await run.getByRole('button', { name: 'Dry run', exact: true }).click()
  const first = page.getByRole('table', { name: 'Garbage collection runs' }).locator('tbody tr').first()
  await expect(first).toContainText('Succeeded', { timeout: 30_000 })
  await expect(first).toContainText(/\d+ untagged artifacts kept: pushed within the last/)
})
