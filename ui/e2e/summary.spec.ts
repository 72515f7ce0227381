import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { expectAccessible } from './axe'
import { crane, createProject, gql, logIn, shot } from './helpers'

const host = () => process.env.BERTH_E2E_HOST ?? ''
const layer = () => process.env.BERTH_E2E_LAYER ?? ''

test('a project’s summary charts storage, pulls and severities; a crane delete of its last image lets it be deleted', async ({ page }) => {
  const name = `sum-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  const id = await createProject(page, name)
  crane('append', '-f', layer(), '-t', `${host()}/${name}/app:v1`)
  crane('manifest', `${host()}/${name}/app:v1`)

  await page.goto(`/projects/${name}`)
  await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Summary' }).click()
  await expect(page).toHaveURL(new RegExp(`/projects/${name}/summary$`))
  const storage = page.getByRole('img', { name: /^Storage of current artifacts by push date/ })
  await expect(storage).toBeVisible()
  await expect(storage).not.toHaveAttribute('aria-label', /to 0 B on/)
  // The pull is counted (pulls are written in batches, every second).
  await expect(async () => {
    await page.reload()
    await expect(page.getByRole('img', { name: /^Pulls per day over the last 7 days: 1 in all/ })).toBeVisible({ timeout: 2_000 })
  }).toPass({ timeout: 20_000 })
  await expect(page.getByRole('img', { name: /^1 images: Critical 0, High 0, Medium 0, Low 0, None 0, Unknown 0, Not scanned 1$/ })).toBeVisible()

  // The numbers are there as a table too.
  const pulls = page.getByRole('figure').filter({ hasText: 'Pulls per day' })
  await pulls.getByText('Show as a table').click()
  await expect(pulls.getByRole('table', { name: 'Pulls per day' }).getByRole('row')).toHaveCount(8)
  await expectAccessible(page, 'the project summary')
  await shot(page, 'project-summary')
  await page.emulateMedia({ colorScheme: 'dark' })
  await expectAccessible(page, 'the project summary, dark')
  await shot(page, 'project-summary-dark')

  // A DELETE over /v2 of the last manifest takes the repository with it: the project can go.
  const dgst = crane('digest', `${host()}/${name}/app:v1`)
  crane('delete', `${host()}/${name}/app@${dgst}`)
  const deleted = await gql<{ deleteProject: boolean }>(page, 'mutation($id: ID!) { deleteProject(id: $id) }', { id })
  expect(deleted.deleteProject).toBe(true)
})
