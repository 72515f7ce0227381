import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { expectAccessible } from './axe'
import { crane, createProject, gql, logIn, shot } from './helpers'

const host = () => process.env.BERTH_E2E_HOST ?? ''
const layer = () => process.env.BERTH_E2E_LAYER ?? ''

test('a project is emptied from the dashboard, repository by repository and artifact by artifact, then deleted', async ({ page }) => {
  const name = `empty-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, name)
  crane('append', '-f', layer(), '-t', `${host()}/${name}/app:v1`)
  crane('append', '-f', layer(), '-t', `${host()}/${name}/tool:v1`)

  // A repository goes from the list, after a confirmation that names it.
  await page.goto(`/projects/${name}`)
  await expect(page.getByRole('table', { name: `Repositories in ${name}` }).getByRole('row')).toHaveCount(3)
  await page.getByRole('button', { name: `Delete repository ${name}/app` }).click()
  const confirm = page.getByRole('dialog', { name: `Delete ${name}/app?` })
  await expect(confirm).toBeVisible()
  await expectAccessible(page, 'the delete repository dialog')
  await confirm.getByRole('button', { name: 'Delete repository' }).click()
  await expect(confirm).toBeHidden()
  await expect(page.getByRole('link', { name: `${name}/app` })).toHaveCount(0)

  // The other loses its only artifact, selected in its table: the repository goes with it.
  await page.getByRole('link', { name: `${name}/tool` }).click()
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`${name}/tool`)
  await page.getByRole('checkbox', { name: 'Select v1' }).check()
  await page.getByRole('button', { name: 'Delete selected' }).click()
  const bulk = page.getByRole('dialog', { name: 'Delete 1 artifact?' })
  await expectAccessible(page, 'the delete selected artifacts dialog')
  await bulk.getByRole('button', { name: 'Delete selected' }).click()
  await expect(bulk).toBeHidden()
  await expect(page.getByRole('main')).toContainText('does not exist')

  await page.goto(`/projects/${name}`)
  await expect(page.getByRole('main')).toContainText('No repositories yet.')
  await page.goto(`/projects/${name}/settings`)
  await page.getByRole('button', { name: 'Delete project' }).click()
  await page.getByRole('dialog', { name: `Delete project ${name}?` }).getByRole('button', { name: 'Delete project' }).click()
  await expect(page).toHaveURL(/\/projects$/)
  await expect(page.getByRole('link', { name, exact: true })).toHaveCount(0)
})

test('a multi-platform index is one row with its platforms; the index page names each child’s platform; sort and search', async ({ page }) => {
  const name = `multi-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, name)
  // Three images for three platforms, then an index of them in another repository, where the
  // children are stored untagged.
  const base = `${host()}/${name}/parts`
  crane('append', '-f', layer(), '-t', `${base}:base`)
  const platforms = ['linux/amd64', 'linux/arm64', 'linux/arm/v7']
  for (const p of platforms) {
    crane('mutate', `${base}:base`, '--set-platform', p, '-t', `${base}:${p.replaceAll('/', '-')}`)
  }
  crane('index', 'append', ...platforms.flatMap((p) => ['-m', `${base}:${p.replaceAll('/', '-')}`]), '-t', `${host()}/${name}/app:v1`)

  await page.goto(`/repositories/${name}/app`)
  const table = page.getByRole('table', { name: `Artifacts in ${name}/app` })
  const rows = table.locator('tbody > tr:not(.accessory):not(.details)')
  await expect(rows).toHaveCount(1)
  await expect(rows.first()).toContainText('v1')
  await expect(rows.first().getByRole('list', { name: 'Platforms' }).getByRole('listitem')).toHaveText([
    'linux/amd64',
    'linux/arm/v7',
    'linux/arm64',
  ])
  await expect(table).not.toContainText('untagged')
  await shot(page, 'repository-index')

  await rows.first().getByRole('link', { name: /open the artifact v1/ }).click()
  const children = page.getByRole('table', { name: 'Manifests in this index' })
  await expect(children.locator('tbody tr')).toHaveCount(3)
  for (const p of platforms) await expect(children).toContainText(p)

  // Sorting by push time, both ways, and searching by tag, all on the server.
  await page.goto(`/repositories/${name}/parts`)
  const tags = page.getByRole('table', { name: `Artifacts in ${name}/parts` }).locator('tbody > tr:not(.accessory) .tag')
  await expect(tags).toHaveText(['linux-arm-v7', 'linux-arm64', 'linux-amd64', 'base'])
  await page.getByRole('button', { name: /Pushed/ }).click()
  await expect(page).toHaveURL(/sort=pushed-asc/)
  await expect(tags).toHaveText(['base', 'linux-amd64', 'linux-arm64', 'linux-arm-v7'])
  await expect(page.getByRole('columnheader', { name: /Pushed/ })).toHaveAttribute('aria-sort', 'ascending')
  await page.getByRole('searchbox', { name: 'Search artifacts by tag or digest' }).fill('ARM')
  await expect(page).toHaveURL(/q=ARM/)
  await expect(tags).toHaveText(['linux-arm64', 'linux-arm-v7'])
  await expectAccessible(page, 'a sorted, searched artifact list')

  // Repositories: search and sort by name.
  await page.goto(`/projects/${name}`)
  const repos = page.getByRole('table', { name: `Repositories in ${name}` }).locator('tbody tr td:first-child')
  await expect(repos).toHaveText([`${name}/app`, `${name}/parts`])
  await page.getByRole('button', { name: /^Name/ }).click()
  await expect(repos).toHaveText([`${name}/parts`, `${name}/app`])
  await page.getByRole('searchbox', { name: 'Search repositories by name' }).fill('part')
  await expect(repos).toHaveText([`${name}/parts`])
})

test('the add-member form suggests usernames; a guest is offered no CVE export and no repository delete', async ({ page }) => {
  const suffix = randomBytes(3).toString('hex')
  const name = `guest-${suffix}`
  const username = `e2e-guest-${suffix}`
  const password = 'E2e-password-3'
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  const projectID = await createProject(page, name)
  crane('append', '-f', layer(), '-t', `${host()}/${name}/app:v1`)
  await gql(page, 'mutation($input: CreateUserInput!) { createUser(input: $input) { id } }', { input: { username, password } })
  await gql(page, 'mutation($p: ID!, $u: String!, $r: Role!) { addMember(projectID: $p, username: $u, role: $r) { id } }', {
    p: projectID,
    u: username,
    r: 'GUEST',
  })
  // The add-member form suggests users who are not members yet, by prefix.
  const candidate = `e2e-cand-${suffix}`
  await gql(page, 'mutation($input: CreateUserInput!) { createUser(input: $input) { id } }', { input: { username: candidate, password } })
  await page.goto(`/projects/${name}/members`)
  await page.getByLabel('Username').fill(`e2e-`)
  await page.getByLabel('Username').pressSequentially(`cand-${suffix.slice(0, 2)}`)
  await expect(page.locator('#add-member-candidates option')).toHaveCount(1)
  await expect(page.locator('#add-member-candidates option')).toHaveAttribute('value', candidate)

  await page.context().clearCookies()
  await logIn(page, password, username)
  await expect(page).toHaveURL(/\/projects$/)
  await expect(page.getByRole('link', { name, exact: true })).toBeVisible()
  await expect(page.getByRole('button', { name: 'Export CVEs' })).toHaveCount(0)
  await page.goto('/exports')
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('CVE exports')
  await expect(page.getByRole('button', { name: 'Export CVEs' })).toHaveCount(0)
  await page.goto(`/projects/${name}`)
  await expect(page.getByRole('link', { name: `${name}/app` })).toBeVisible()
  await expect(page.getByRole('button', { name: /Delete/ })).toHaveCount(0)
  await page.goto(`/repositories/${name}/app`)
  await expect(page.getByRole('table', { name: `Artifacts in ${name}/app` })).toBeVisible()
  await expect(page.getByRole('button', { name: /Delete/ })).toHaveCount(0)
  await expect(page.getByRole('checkbox')).toHaveCount(0)
})
