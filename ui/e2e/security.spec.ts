import { expect, test } from '@playwright/test'
import { logIn } from './helpers'

// The dashboard runs under its strict Content-Security-Policy (no inline script or style): walking
// through its pages reports no violation, and the page may not be framed.
test('the dashboard works under its Content-Security-Policy', async ({ page }) => {
  const violations: string[] = []
  page.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy/i.test(m.text())) violations.push(m.text())
  })
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`)
    })
  })

  const response = await page.goto('/login')
  const headers = response?.headers() ?? {}
  expect(headers['content-security-policy']).toContain("script-src 'self'")
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'")
  expect(headers['x-frame-options']).toBe('DENY')
  expect(headers['x-content-type-options']).toBe('nosniff')

  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await page.getByRole('link', { name: 'library', exact: true }).click()
  await page.getByRole('link', { name: 'library/e2e-hello', exact: true }).click()
  await expect(page.getByRole('heading', { level: 1, name: 'library/e2e-hello' })).toBeVisible()
  await page.getByRole('row').filter({ hasText: 'v1' }).locator('a').first().click()
  await page.waitForLoadState('networkidle')
  expect(violations).toEqual([])
})
