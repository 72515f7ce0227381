import AxeBuilder from '@axe-core/playwright'
import { expect, type Page } from '@playwright/test'

/** expectAccessible runs axe's WCAG 2 A and AA rules on the page as it is and fails on any violation. */
export async function expectAccessible(page: Page, what: string) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze()
  const found = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
  expect(found, `accessibility violations on ${what}`).toEqual([])
}
