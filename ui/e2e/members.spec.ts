import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { createProject, logIn, shot } from './helpers'

test('an admin creates a user, adds them to a project, changes their role and removes them', async ({ page }) => {
  const username = `e2e-user-${randomBytes(3).toString('hex')}`
  const projectName = `e2e-members-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, projectName)

  // Administration → Users: create the user through the dialog.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Administration' }).click()
  await expect(page).toHaveURL(/\/admin\/users$/)
  await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible()
  await page.getByRole('button', { name: 'New user' }).click()
  const dialog = page.getByRole('dialog', { name: 'New user' })
  await dialog.getByLabel('Username').fill(username)
  await dialog.getByLabel('Password').fill('E2e-password-1')
  await dialog.getByLabel(/Full name/).fill('End To End')
  await shot(page, 'new-user-dialog')
  await dialog.getByRole('button', { name: 'Create' }).click()
  await expect(dialog).toBeHidden()
  await expect(page.getByRole('status')).toHaveText(`User ${username} created.`)
  await page.getByLabel('Search users').fill(username)
  const userRow = page.getByRole('row').filter({ hasText: username })
  await expect(userRow).toHaveCount(1)
  await expect(userRow).toContainText('End To End')
  await expect(userRow).toContainText('Active')
  await shot(page, 'users')

  // The project's Members tab: the creator is its admin; a missing user is refused inline.
  await page.goto(`/projects/${projectName}`)
  await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Members' }).click()
  await expect(page).toHaveURL(new RegExp(`/projects/${projectName}/members$`))
  await expect(page.getByRole('row').filter({ hasText: 'admin' })).toContainText('Project admin')
  await page.getByLabel('Username').fill('nobody-at-all')
  await page.getByRole('button', { name: 'Add member' }).click()
  await expect(page.getByRole('alert')).toContainText('user "nobody-at-all" not found')

  await page.getByLabel('Username').fill(username)
  await page.getByLabel('Role', { exact: true }).selectOption('DEVELOPER')
  await page.getByRole('button', { name: 'Add member' }).click()
  await expect(page.getByRole('status')).toHaveText(`${username} was added as Developer.`)
  const row = page.getByRole('row').filter({ hasText: username })
  const role = row.getByLabel(`Role of ${username}`)
  await expect(role).toHaveValue('DEVELOPER')
  await shot(page, 'members-added')

  // Adding them twice is a conflict, shown where the form is.
  await page.getByLabel('Username').fill(username)
  await page.getByRole('button', { name: 'Add member' }).click()
  await expect(page.getByRole('alert')).toContainText('already a member')

  await role.selectOption('MAINTAINER')
  await row.getByRole('button', { name: `Save role of ${username}` }).click()
  await expect(page.getByRole('status')).toHaveText(`${username} is now Maintainer.`)
  await page.reload()
  await expect(page.getByRole('row').filter({ hasText: username }).getByLabel(`Role of ${username}`)).toHaveValue('MAINTAINER')
  await shot(page, 'members-role-changed')

  await page.getByRole('button', { name: `Remove ${username}` }).click()
  const confirm = page.getByRole('dialog', { name: `Remove ${username}?` })
  await expect(confirm).toBeVisible()
  await shot(page, 'members-remove-confirm')
  await confirm.getByRole('button', { name: 'Remove' }).click()
  await expect(confirm).toBeHidden()
  await expect(page.getByRole('status')).toHaveText(`${username} was removed from ${projectName}.`)
  await expect(page.getByRole('row').filter({ hasText: username })).toHaveCount(0)
  await shot(page, 'members-removed')

  // Back in Administration → Users: disable the account, then delete it.
  await page.goto(`/admin/users?q=${username}`)
  const account = page.getByRole('row').filter({ hasText: username })
  await account.getByRole('button', { name: `Disable ${username}` }).click()
  await expect(account).toContainText('Disabled')
  await account.getByRole('button', { name: `Delete user ${username}` }).click()
  await page.getByRole('dialog', { name: `Delete user ${username}?` }).getByRole('button', { name: 'Delete user' }).click()
  await expect(page.getByText(`No username contains “${username}”.`)).toBeVisible()
})
