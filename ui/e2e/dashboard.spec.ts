import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { crane, digest, logIn, shot } from './helpers'

test('a wrong password shows the server error and stays on the form', async ({ page }) => {
  await logIn(page, 'not-the-password')
  await expect(page.getByRole('alert')).toContainText('invalid username or password')
  await expect(page).toHaveURL(/\/login$/)
  await shot(page, 'login-wrong-password')
})

test('admin logs in and goes from the project list to the pushed artifact', async ({ page }) => {
  await page.goto('/login')
  await shot(page, 'login')
  await logIn(page)

  await expect(page).toHaveURL(/\/projects$/)
  await expect(page.getByRole('button', { name: /admin/ })).toBeVisible()
  const library = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'library', exact: true }) })
  await expect(library).toContainText('Public')
  await expect(library.getByRole('cell').nth(2)).toHaveText('1')
  await expect(library.getByRole('cell').nth(3)).not.toHaveText('0 B')
  await shot(page, 'projects')

  await library.getByRole('link', { name: 'library', exact: true }).click()
  await expect(page).toHaveURL(/\/projects\/library$/)
  await expect(page.getByRole('heading', { level: 1, name: 'library' })).toBeVisible()
  const repoLink = page.getByRole('link', { name: 'library/e2e-hello', exact: true })
  await expect(repoLink).toBeVisible()
  await shot(page, 'project')

  await repoLink.click()
  await expect(page).toHaveURL(/\/repositories\/library\/e2e-hello$/)
  await expect(page.getByRole('heading', { level: 1, name: 'library/e2e-hello' })).toBeVisible()
  const artifact = page.getByRole('row').filter({ hasText: 'v1' })
  await expect(artifact).toHaveCount(1)
  await expect(artifact.getByRole('listitem')).toHaveText(['v1'])
  await expect(artifact.locator('code.digest')).toHaveText(digest().slice(0, 'sha256:'.length + 12))
  await expect(artifact.locator('code.digest')).toHaveAttribute('title', digest())
  const host = new URL(page.url()).host
  await expect(page.locator('.pull code')).toHaveText(`docker pull ${host}/library/e2e-hello@${digest()}`)

  await artifact.getByRole('button', { name: /^Details/ }).click()
  await expect(page.locator('tr.details')).toContainText(digest())
  await shot(page, 'repository')

  // A reload of a deep link is answered by the server's SPA fallback.
  await page.reload()
  await expect(page.getByRole('heading', { level: 1, name: 'library/e2e-hello' })).toBeVisible()
})

test('a new project is created through the dialog and listed', async ({ page }) => {
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  const name = `e2e-${randomBytes(4).toString('hex')}`

  await page.getByRole('button', { name: 'New project' }).click()
  const dialog = page.getByRole('dialog', { name: 'New project' })
  await expect(dialog).toBeVisible()
  await dialog.getByLabel('Name').fill(name)
  await dialog.getByLabel(/Public/).check()
  await shot(page, 'new-project-dialog')
  await dialog.getByRole('button', { name: 'Create' }).click()
  await expect(dialog).toBeHidden()

  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) })
  await expect(row).toContainText('Public')
  await expect(row.getByRole('cell').nth(2)).toHaveText('0')
  await expect(row.getByRole('cell').nth(3)).toHaveText('0 B of unlimited')
  await shot(page, 'projects-after-create')

  // The search box narrows the list to the new project.
  await page.getByLabel('Search projects').fill(name)
  await expect(page).toHaveURL(new RegExp(`q=${name}`))
  await expect(page.getByRole('row')).toHaveCount(2) // the header and the project
  await page.getByLabel('Search projects').fill('no-such-project-anywhere')
  await expect(page.getByText('No project name contains')).toBeVisible()
  await shot(page, 'projects-search-empty')

  // The server's refusal appears in the dialog.
  await page.getByRole('button', { name: 'New project' }).click()
  await dialog.getByLabel('Name').fill(name)
  await dialog.getByRole('button', { name: 'Create' }).click()
  await expect(dialog.getByRole('alert')).toContainText('already exists')
  await shot(page, 'new-project-error')
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await expect(dialog).toBeHidden()

  const newProject = page.getByRole('link', { name, exact: true })
  await page.getByLabel('Search projects').fill(name)
  await newProject.click()
  await expect(page.getByText('No repositories yet.')).toBeVisible()
  await shot(page, 'project-empty')
})

test('anonymous visitors see public projects and a login link; logging out returns there', async ({ page }) => {
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await page.getByRole('button', { name: /admin/ }).click()
  await page.getByRole('button', { name: 'Log out' }).click()
  await expect(page).toHaveURL(/\/login$/)

  await page.goto('/projects')
  await expect(page.getByRole('link', { name: 'Log in' }).first()).toBeVisible()
  await expect(page.getByRole('link', { name: 'library', exact: true })).toBeVisible()
  await expect(page.getByRole('button', { name: 'New project' })).toHaveCount(0)
  await shot(page, 'projects-anonymous')

  await page.goto('/repositories/library/no-such-repository')
  await expect(page.getByText('Repository “library/no-such-repository” does not exist')).toBeVisible()
  await expect(page.getByRole('main').getByRole('link', { name: 'Log in' })).toBeVisible()
  await shot(page, 'repository-missing')
})

test('long lists page with Next and Previous, 25 rows at a time', async ({ page }) => {
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  // 27 projects through the API, with the browser's session cookie: two pages under one search.
  const prefix = `pg${randomBytes(3).toString('hex')}`
  for (let i = 0; i < 27; i++) {
    const res = await page.request.post('/graphql', {
      data: {
        query: 'mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }',
        variables: { input: { name: `${prefix}-${String(i).padStart(2, '0')}` } },
      },
    })
    expect(res.ok()).toBeTruthy()
    expect((await res.json()).errors).toBeUndefined()
  }

  await page.getByLabel('Search projects').fill(prefix)
  const projectLinks = page.getByRole('table').getByRole('link')
  await expect(page.getByText('27 projects')).toBeVisible()
  await expect(projectLinks).toHaveCount(25)
  await expect(projectLinks.first()).toHaveText(`${prefix}-00`)
  const pager = page.getByRole('navigation', { name: 'Projects pages' })
  await expect(pager.getByRole('button', { name: /Previous/ })).toBeDisabled()

  await pager.getByRole('button', { name: /Next/ }).click()
  await expect(projectLinks).toHaveText([`${prefix}-25`, `${prefix}-26`])
  await expect(pager.getByRole('button', { name: /Next/ })).toBeDisabled()
  await shot(page, 'projects-page-2')

  await pager.getByRole('button', { name: /Previous/ }).click()
  await expect(projectLinks).toHaveCount(25)
  await expect(projectLinks.first()).toHaveText(`${prefix}-00`)
  await expect(projectLinks.last()).toHaveText(`${prefix}-24`)
  await expect(pager.getByRole('button', { name: /Previous/ })).toBeDisabled()

  // The browser's Back button walks the same pages.
  await page.goBack()
  await expect(projectLinks).toHaveText([`${prefix}-25`, `${prefix}-26`])
})

test('the repository page shows a tag pushed while it is open, without a reload', async ({ page }) => {
  const host = process.env.BERTH_E2E_HOST ?? ''
  const repo = `library/e2e-live-${randomBytes(3).toString('hex')}`
  crane('append', '-f', process.env.BERTH_E2E_LAYER ?? '', '-t', `${host}/${repo}:v1`)

  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  // The page subscribes over a WebSocket (graphql-transport-ws); wait until it has.
  const subscribed = page
    .waitForEvent('websocket', (ws) => ws.url().endsWith('/graphql'))
    .then((ws) => ws.waitForEvent('framesent', (f) => String(f.payload).includes('"type":"subscribe"')))
  await page.goto(`/repositories/${repo}`)
  const row = page.getByRole('row').filter({ has: page.getByRole('listitem').filter({ hasText: 'v1' }) })
  await expect(row).toHaveCount(1)
  await expect(row.getByRole('listitem')).toHaveText(['v1'])
  await subscribed

  crane('tag', `${host}/${repo}:v1`, 'live')
  await expect(row.getByRole('listitem')).toHaveText(['live', 'v1'], { timeout: 15_000 })
  await shot(page, 'repository-live-update')
})
