import { expect, test } from '@playwright/test'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createProject, logIn, shot } from './helpers'

test('a project admin trusts a signing key, requires verified images, and removes the key', async ({ page }) => {
  const projectName = `e2e-trust-${randomBytes(3).toString('hex')}`
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, projectName)
  await page.goto(`/projects/${projectName}/settings`)

  const section = page.getByRole('region', { name: 'Signatures' })
  await expect(section).toContainText('No trusted keys')
  // Not a key: the server's reason is shown.
  await section.getByLabel('Key name').fill('broken')
  await section.getByLabel('PEM').fill('not a key')
  await section.getByRole('button', { name: 'Trust this key' }).click()
  await expect(section.getByRole('alert')).toContainText('not PEM')

  await section.getByLabel('Key name').fill('release')
  await section.getByLabel('PEM').fill(pem)
  await section.getByRole('button', { name: 'Trust this key' }).click()
  const row = section.getByRole('row', { name: /release/ })
  await expect(row).toContainText('Public key')
  await expect(row).toContainText('This project')

  const enforce = section.getByRole('checkbox', { name: 'Only verified images may be pulled' })
  await expect(enforce).not.toBeChecked()
  await enforce.check()
  await page.reload()
  await expect(page.getByRole('region', { name: 'Signatures' }).getByRole('checkbox', { name: 'Only verified images may be pulled' })).toBeChecked()
  await shot(page, 'project-trust-policy')

  await page.getByRole('button', { name: 'Remove key release' }).click()
  const confirm = page.getByRole('dialog', { name: 'Stop trusting release?' })
  await confirm.getByRole('button', { name: 'Remove key' }).click()
  await expect(page.getByRole('region', { name: 'Signatures' })).toContainText('No trusted keys')
})
