import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { createProject, logIn, shot } from './helpers'

test('project settings are saved and survive a reload; only an empty project can be deleted', async ({ page }) => {
  const projectName = `e2e-settings-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, projectName)

  await page.goto(`/projects/${projectName}`)
  await expect(page.locator('.page-head .badge')).toHaveText('Private')
  await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Settings' }).click()
  await expect(page).toHaveURL(new RegExp(`/projects/${projectName}/settings$`))
  const isPublic = page.getByRole('checkbox', { name: 'Public' })
  await expect(isPublic).not.toBeChecked()
  await isPublic.check()
  await page.getByLabel('Severity threshold').selectOption('HIGH')
  await page.getByRole('button', { name: 'Save settings' }).click()
  await expect(page.getByRole('status')).toHaveText('Settings saved.')

  await page.reload()
  await expect(page.getByRole('checkbox', { name: 'Public' })).toBeChecked()
  await expect(page.getByLabel('Severity threshold')).toHaveValue('HIGH')
  await expect(page.locator('.page-head .badge')).toHaveText('Public')
  await shot(page, 'project-settings')

  // A project with repositories is refused, with the server's reason.
  await page.goto('/projects/library/settings')
  await page.getByRole('button', { name: 'Delete project' }).click()
  const refuse = page.getByRole('dialog', { name: 'Delete project library?' })
  await refuse.getByRole('button', { name: 'Delete project' }).click()
  await expect(refuse.getByRole('alert')).toContainText('still holds')
  await shot(page, 'project-delete-refused')
  await refuse.getByRole('button', { name: 'Cancel' }).click()

  // An empty one goes, and the list no longer has it.
  await page.goto(`/projects/${projectName}/settings`)
  await page.getByRole('button', { name: 'Delete project' }).click()
  const confirm = page.getByRole('dialog', { name: `Delete project ${projectName}?` })
  await confirm.getByRole('button', { name: 'Delete project' }).click()
  await expect(page).toHaveURL(/\/projects$/)
  await page.getByLabel('Search projects').fill(projectName)
  await expect(page.getByText('No project name contains')).toBeVisible()
})
