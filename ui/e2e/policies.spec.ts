import AxeBuilder from '@axe-core/playwright'
import { expect, test, type Page } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { crane, createProject, digest, logIn, shot } from './helpers'

async function expectAccessible(page: Page, what: string) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze()
  const found = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
  expect(found, `accessibility violations on ${what}`).toEqual([])
}

test('quota bar and limit, immutable tags and retention tabs, and a tag move that asks first', async ({ page }) => {
  const host = process.env.BERTH_E2E_HOST ?? ''
  const name = `e2e-pol-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, name)
  crane('copy', `${host}/library/e2e-hello@${digest()}`, `${host}/${name}/app:v1`)
  crane('mutate', `${host}/${name}/app:v1`, '--label', 'e2e=second', '-t', `${host}/${name}/app:v2`)
  const v2 = crane('digest', `${host}/${name}/app:v2`)

  // The project page: usage of an unlimited quota, then a limit set by the administrator.
  await page.goto(`/projects/${name}`)
  await expect(page.getByRole('main')).toContainText('of unlimited')
  await page.getByRole('button', { name: 'Change quota' }).click()
  await page.getByLabel('Storage limit (empty: unlimited)').fill('1')
  await page.getByLabel('Unit').selectOption('GiB')
  await page.getByRole('button', { name: 'Save quota' }).click()
  await expect(page.getByRole('meter', { name: `Storage used by ${name}` })).toBeVisible()
  await expectAccessible(page, 'a project with a quota')
  // The project list shows the same bar.
  await page.goto(`/projects?q=${name}`)
  await expect(page.getByRole('meter', { name: `Storage used by ${name}` })).toBeVisible()

  // Immutable tags: a rule for v1.
  await page.goto(`/projects/${name}/immutability`)
  await expect(page.getByText('No rules: every tag can be moved.')).toBeVisible()
  await page.getByLabel('Tags (glob)').fill('v1')
  await page.getByRole('button', { name: 'Add rule' }).click()
  await expect(page.getByRole('table', { name: 'Immutability rules' })).toContainText('v1')
  await expectAccessible(page, 'the immutable tags tab')
  await shot(page, 'immutable-tags')

  // Adding v1 to the other artifact asks before moving it, and the rule then refuses the move.
  await page.goto(`/repositories/${name}/app/artifacts/${v2}`)
  await page.getByLabel('New tag').fill('v1')
  await page.getByRole('button', { name: 'Add tag' }).click()
  const ask = page.getByRole('alertdialog', { name: 'Move tag v1?' })
  await expect(ask).toBeVisible()
  await expectAccessible(page, 'the tag move confirmation')
  await ask.getByRole('button', { name: 'Move tag' }).click()
  await expect(page.getByRole('main')).toContainText('is immutable')
  // A tag that names no other artifact is added without asking.
  await page.getByLabel('New tag').fill('fresh')
  await page.getByRole('button', { name: 'Add tag' }).click()
  await expect(page.getByRole('status')).toHaveText('Tag fresh now points at this artifact.')

  // Tag retention: a rule, a dry run and its result.
  await page.goto(`/projects/${name}/retention`)
  await expect(page.getByText('No rules: retention deletes nothing.')).toBeVisible()
  await page.getByLabel('Count').fill('1')
  await page.getByRole('button', { name: 'Add rule' }).click()
  await expect(page.getByRole('list', { name: 'Retention rules' })).toContainText('Keep the most recently pushed (1) of repositories **')
  await page.getByRole('button', { name: 'Dry run' }).click()
  const runs = page.getByRole('table', { name: 'Retention runs' })
  await expect(runs).toContainText('Dry run')
  await expect(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click()
    await expect(runs).toContainText('SUCCESS', { timeout: 1000 })
  }).toPass({ timeout: 30_000 })
  await page.getByLabel('Runs by itself').selectOption('DAILY')
  await page.getByRole('button', { name: 'Save schedule' }).click()
  await expect(page.getByRole('form', { name: 'Retention schedule' })).toContainText('Next run')
  await expectAccessible(page, 'the tag retention tab')
  await shot(page, 'tag-retention')
})
