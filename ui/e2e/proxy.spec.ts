import AxeBuilder from '@axe-core/playwright'
import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { adminPassword, crane, digest, gql, logIn, shot } from './helpers'

test('a proxy-cache project is created from the New project dialog, and an image is pulled through it', async ({ page }) => {
  const suffix = randomBytes(3).toString('hex')
  const project = `e2e-proxy-${suffix}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  // The upstream: this very Berth, as a registry endpoint.
  const origin = new URL(page.url()).origin
  await gql(page, 'mutation($input: RegistryEndpointInput!) { createRegistryEndpoint(input: $input) { id } }', {
    input: { name: `up-${suffix}`, type: 'berth', url: origin, credentialType: 'basic', accessKey: 'admin', accessSecret: adminPassword() },
  })
  await page.reload()

  await page.getByRole('button', { name: 'New project' }).click()
  const dialog = page.getByRole('dialog', { name: 'New project' })
  await dialog.getByLabel('Name').fill(project)
  await dialog.getByLabel('Public: anyone may pull').check()
  await dialog.getByLabel('Pull through to an upstream registry').check()
  const endpoint = dialog.getByLabel('Registry endpoint')
  const id = await endpoint.locator('option', { hasText: `up-${suffix}` }).getAttribute('value')
  await endpoint.selectOption(id ?? '')
  await dialog.getByLabel('Upstream namespace').fill('library')
  await dialog.getByLabel('Freshness (seconds)').fill('60')
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze()
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`), 'accessibility violations on the proxy-cache dialog').toEqual([])
  await dialog.getByRole('button', { name: 'Create' }).click()

  await page.goto(`/projects/${project}`)
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(project)
  await expect(page.getByText('Proxy cache', { exact: true })).toBeVisible()
  const fact = page.locator('dl.facts div', { hasText: 'Proxy cache of' })
  await expect(fact).toContainText(`up-${suffix} (${origin})`)
  await expect(fact).toContainText('/ library')
  await expect(page.getByText('docker push')).toHaveCount(0)

  // Pulled through: what comes out is what upstream has, and it is now in the project.
  const host = new URL(origin).host
  expect(crane('digest', `${host}/${project}/e2e-hello:v1`)).toBe(digest())
  await page.goto(`/repositories/${project}/e2e-hello/artifacts/${digest()}`)
  await expect(page.getByRole('heading', { level: 1 })).toContainText(`${project}/e2e-hello`)
  await expect(page.getByText(/^Loading/)).toHaveCount(0)
  await expect(page.getByRole('button', { name: 'Add tag' })).toHaveCount(0)
  await expect(page.getByRole('heading', { name: 'Delete this artifact' })).toHaveCount(0)
  await shot(page, 'proxy-cache')
})
