import AxeBuilder from '@axe-core/playwright'
import { expect, test, type Page } from '@playwright/test'
import { adminPassword, digest, logIn } from './helpers'

/** expectAccessible runs axe's WCAG 2 A and AA rules on the page as it is and fails on any violation. */
async function expectAccessible(page: Page, what: string) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze()
  const found = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
  expect(found, `accessibility violations on ${what}`).toEqual([])
}

test('every page passes axe’s WCAG 2 A and AA rules: labels, names, contrast', async ({ page }) => {
  // Nineteen pages through axe: over a minute on a busy machine.
  test.setTimeout(180_000)
  await page.goto('/login')
  await expectAccessible(page, 'the login page')
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)

  const pages: [string, string, string][] = [
    ['/projects', 'the project list', 'Projects'],
    ['/projects/library', 'a project', 'library'],
    ['/projects/library/members', 'project members', 'library'],
    ['/projects/library/settings', 'project settings', 'library'],
    ['/projects/library/webhooks', 'project webhooks', 'library'],
    ['/projects/library/logs', 'the project log', 'library'],
    ['/projects/library/robots', 'project robot accounts', 'library'],
    ['/projects/library/summary', 'the project summary', 'library'],
    ['/repositories/library/e2e-hello', 'a repository', 'library/e2e-hello'],
    [`/repositories/library/e2e-hello/artifacts/${digest()}`, 'an artifact', 'library/e2e-hello'],
    ['/exports', 'CVE exports', 'CVE exports'],
    ['/admin/users', 'users', 'Users'],
    ['/admin/robots', 'system robot accounts', 'Robot accounts'],
    ['/tokens', 'API tokens', 'API tokens'],
    ['/admin/audit-log', 'the audit log', 'Audit log'],
    ['/admin/configuration', 'configuration', 'Configuration'],
    ['/admin/scanners', 'scanners', 'Scanners'],
    ['/admin/replication', 'replication', 'Replication'],
    ['/admin/clean-up/log-rotation', 'log rotation', 'Clean Up'],
    ['/admin/clean-up/gc', 'garbage collection', 'Clean Up'],
  ]
  for (const [url, what, heading] of pages) {
    await page.goto(url)
    await expect(page.getByRole('heading', { level: 1 })).toContainText(heading)
    // Wait for the page's data, not just its frame.
    await expect(page.getByText(/^Loading/)).toHaveCount(0)
    await expectAccessible(page, what)
  }

  // Dialogs too.
  await page.goto('/projects')
  await page.getByRole('button', { name: 'New project' }).click()
  await expect(page.getByRole('dialog', { name: 'New project' })).toBeVisible()
  await expectAccessible(page, 'the new project dialog')
  await page.keyboard.press('Escape')
  await page.getByRole('button', { name: 'Export CVEs' }).click()
  await expect(page.getByRole('dialog', { name: 'Export CVEs' }).getByRole('checkbox', { name: 'library' })).toBeVisible()
  await expectAccessible(page, 'the CVE export dialog')
  await page.keyboard.press('Escape')
  await page.goto('/projects/library/robots')
  await page.getByRole('button', { name: 'New robot account' }).click()
  await expect(page.getByRole('dialog', { name: 'New robot account' }).getByRole('group', { name: 'Repository' })).toBeVisible()
  await expectAccessible(page, 'the new robot account dialog')
  await page.goto('/admin/robots')
  await page.getByRole('button', { name: 'New robot account' }).click()
  await page.getByRole('dialog', { name: 'New robot account' }).getByLabel('Only the projects chosen').check()
  await expect(page.getByRole('group', { name: 'Chosen projects' }).getByLabel('library')).toBeVisible()
  await expectAccessible(page, 'the new system robot dialog')
  await page.goto('/tokens')
  await page.getByRole('button', { name: 'New API token' }).click()
  await expect(page.getByRole('dialog', { name: 'New API token' }).getByRole('group', { name: 'Repository' })).toBeVisible()
  await expectAccessible(page, 'the new API token dialog')
  await page.goto('/admin/scanners')
  await page.getByRole('button', { name: 'Add scanner' }).click()
  await expect(page.getByRole('dialog', { name: 'Add scanner' })).toBeVisible()
  await expectAccessible(page, 'the add scanner dialog')
})

test('the keyboard alone logs in, opens a project and reaches its tabs', async ({ page }) => {
  await page.goto('/login')
  // The first field has focus; Tab moves through the form and Enter submits it.
  await expect(page.getByLabel('Username')).toBeFocused()
  await page.keyboard.type('admin')
  await page.keyboard.press('Tab')
  await expect(page.getByLabel('Password')).toBeFocused()
  await page.keyboard.type(adminPassword())
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(/\/projects$/)

  // Tab to the library link and follow it with Enter.
  const library = page.getByRole('link', { name: 'library', exact: true })
  for (let i = 0; i < 40 && !(await library.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press('Tab')
  await expect(library).toBeFocused()
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(/\/projects\/library$/)

  const settings = page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Settings' })
  for (let i = 0; i < 40 && !(await settings.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press('Tab')
  await expect(settings).toBeFocused()
  await page.keyboard.press('Enter')
  await expect(page).toHaveURL(/\/projects\/library\/settings$/)
  await expect(page.getByRole('checkbox', { name: 'Public' })).toBeVisible()
})
