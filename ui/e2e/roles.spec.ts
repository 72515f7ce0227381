import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { createProject, gql, logIn, shot } from './helpers'

test('a maintainer sees members read-only, may change settings but not delete, and sees webhooks without controls', async ({ page }) => {
  const username = `e2e-maint-${randomBytes(3).toString('hex')}`
  const password = 'E2e-password-2'
  const projectName = `e2e-roles-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  const projectID = await createProject(page, projectName)
  await gql(page, 'mutation($input: CreateUserInput!) { createUser(input: $input) { id } }', { input: { username, password } })
  await gql(page, 'mutation($p: ID!, $u: String!) { addMember(projectID: $p, username: $u, role: MAINTAINER) { id } }', {
    p: projectID,
    u: username,
  })
  await gql(page, 'mutation($input: CreateWebhookPolicyInput!) { createWebhookPolicy(input: $input) { secret } }', {
    input: { projectID, name: 'audit-sink', address: 'https://example.invalid/hook', eventTypes: ['ARTIFACT_DELETED'] },
  })

  await page.context().clearCookies()
  await logIn(page, password, username)
  await expect(page).toHaveURL(/\/projects$/)
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Administration' })).toHaveCount(0)

  await page.goto(`/projects/${projectName}/members`)
  await expect(page.getByRole('row').filter({ hasText: username })).toContainText('Maintainer')
  await expect(page.getByRole('button', { name: 'Add member' })).toHaveCount(0)
  await expect(page.getByRole('button', { name: /^Remove/ })).toHaveCount(0)

  await page.getByRole('link', { name: 'Settings' }).click()
  await expect(page.getByRole('checkbox', { name: 'Public' })).toBeEnabled()
  await expect(page.getByRole('button', { name: 'Save settings' })).toBeVisible()
  await expect(page.getByRole('button', { name: 'Delete project' })).toHaveCount(0)

  await page.getByRole('link', { name: 'Webhooks' }).click()
  const policy = page.getByRole('region', { name: 'audit-sink' })
  await expect(policy).toContainText('https://example.invalid/hook')
  await expect(policy).toContainText('Enabled')
  await expect(page.getByRole('button', { name: 'New webhook' })).toHaveCount(0)
  await expect(policy.getByRole('button', { name: /Send test event|Edit|Delete/ })).toHaveCount(0)
  await shot(page, 'webhooks-maintainer')

  // Administration is for system admins only, even by address.
  await page.goto('/admin/users')
  await expect(page.getByText('Only system administrators may see this page.')).toBeVisible()
})

test('anonymous visitors of a public project see only its repositories and its summary', async ({ page }) => {
  await page.goto('/projects/library')
  await expect(page.getByRole('heading', { level: 1, name: 'library' })).toBeVisible()
  await expect(page.getByRole('navigation', { name: 'Project sections' }).getByRole('link')).toHaveText(['Repositories', 'Summary'])
})

test('member controls follow myPermissions: a guest gets none, a project admin gets them', async ({ page }) => {
  const suffix = randomBytes(3).toString('hex')
  const projectName = `e2e-perms-${suffix}`
  const password = 'E2e-password-3'
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  const projectID = await createProject(page, projectName)
  for (const [username, role] of [
    [`e2e-guest-${suffix}`, 'GUEST'],
    [`e2e-padmin-${suffix}`, 'PROJECT_ADMIN'],
  ]) {
    await gql(page, 'mutation($input: CreateUserInput!) { createUser(input: $input) { id } }', { input: { username, password } })
    await gql(page, 'mutation($p: ID!, $u: String!, $r: Role!) { addMember(projectID: $p, username: $u, role: $r) { id } }', {
      p: projectID,
      u: username,
      r: role,
    })
  }

  // The page asks the server what the viewer may do in the project, and offers exactly that.
  const membersAs = async (username: string) => {
    await page.context().clearCookies()
    await logIn(page, password, username)
    await expect(page).toHaveURL(/\/projects$/)
    const asked = page.waitForResponse(
      (r) => r.url().endsWith('/graphql') && (r.request().postData() ?? '').includes('myPermissions') && (r.request().postData() ?? '').includes(`"projectID":"${projectID}"`),
    )
    await page.goto(`/projects/${projectName}/members`)
    const answer = (await (await asked).json()) as { data: { myPermissions: string[] } }
    await expect(page.getByRole('row').filter({ hasText: username })).toBeVisible()
    return answer.data.myPermissions
  }

  const guest = await membersAs(`e2e-guest-${suffix}`)
  expect(guest).toContain('member:read')
  expect(guest).not.toContain('member:create')
  await expect(page.getByRole('button', { name: 'Add member' })).toHaveCount(0)
  await expect(page.getByRole('button', { name: /^Remove/ })).toHaveCount(0)
  await expect(page.getByRole('button', { name: /^Save role of/ })).toHaveCount(0)

  const projectAdmin = await membersAs(`e2e-padmin-${suffix}`)
  expect(projectAdmin).toContain('member:create')
  await expect(page.getByRole('button', { name: 'Add member' })).toBeVisible()
  await expect(page.getByRole('button', { name: `Remove e2e-guest-${suffix}` })).toBeVisible()
  await shot(page, 'members-project-admin')
})
