import { expect, test, type Page } from '@playwright/test'
import { expectAccessible } from './axe'
import { digest, logIn, shot } from './helpers'

// Every page of the dashboard, as a11y.spec.ts walks them.
const pages = (): string[] => [
  '/projects',
  '/projects/library',
  '/projects/library/members',
  '/projects/library/settings',
  '/projects/library/webhooks',
  '/projects/library/logs',
  '/projects/library/robots',
  '/projects/library/summary',
  '/repositories/library/e2e-hello',
  `/repositories/library/e2e-hello/artifacts/${digest()}`,
  '/exports',
  '/admin/users',
  '/admin/robots',
  '/tokens',
  '/admin/audit-log',
  '/admin/configuration',
  '/admin/scanners',
  '/admin/replication',
  '/admin/clean-up/log-rotation',
  '/admin/clean-up/gc',
]

/** overflow is how many pixels the document is wider than the window (0: no sideways scroll). */
async function overflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
}

async function widths(page: Page): Promise<string[]> {
  const wide: string[] = []
  for (const url of pages()) {
    await page.goto(url)
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible()
    await expect(page.getByText(/Loading/)).toHaveCount(0)
    const px = await overflow(page)
    if (px > 0) wide.push(`${url}: ${px} px too wide`)
  }
  return wide
}

test('at 390×844 no page scrolls sideways, and the navigation and user menu are reachable', async ({ page }) => {
  test.setTimeout(120_000)
  await page.setViewportSize({ width: 390, height: 844 })
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  expect(await widths(page)).toEqual([])

  await page.goto('/projects/library')
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeHidden()
  await page.getByRole('button', { name: 'Menu' }).click()
  await expect(page.getByRole('link', { name: 'Administration' })).toBeInViewport()
  await page.getByRole('button', { name: /User menu/ }).click()
  const tokens = page.getByRole('link', { name: 'API tokens' })
  await expect(tokens).toBeInViewport()
  await expect(page.getByRole('button', { name: 'Log out' })).toBeInViewport()
  expect(await overflow(page)).toBe(0)
  await shot(page, 'narrow-menu')
  await tokens.click()
  await expect(page).toHaveURL(/\/tokens$/)
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeHidden()
})

test('at 1440 px no page is wider than the window', async ({ page }) => {
  test.setTimeout(120_000)
  await page.setViewportSize({ width: 1440, height: 900 })
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  expect(await widths(page)).toEqual([])
})

test('the dark theme follows the system’s preference and keeps axe’s contrast rules', async ({ page }) => {
  test.setTimeout(90_000)
  await page.emulateMedia({ colorScheme: 'dark' })
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor)
  expect(background).toBe('rgb(16, 21, 28)')
  for (const [url, name] of [
    ['/projects', 'dark-projects'],
    ['/repositories/library/e2e-hello', 'dark-repository'],
    [`/repositories/library/e2e-hello/artifacts/${digest()}`, 'dark-artifact'],
    ['/admin/audit-log', 'dark-audit-log'],
  ]) {
    await page.goto(url)
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible()
    await expect(page.getByText(/Loading/)).toHaveCount(0)
    await expectAccessible(page, `${url} in the dark theme`)
    await shot(page, name)
  }
})
