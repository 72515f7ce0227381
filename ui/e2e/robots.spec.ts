import { expect, request, test, type Page } from '@playwright/test'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crane, createProject, gql, logIn, shot } from './helpers'

/** A crane of its own: a fresh docker config, so it runs as whoever it logs in as and no one else. */
function freshCrane() {
  const dir = mkdtempSync(join(tmpdir(), 'berth-e2e-robot-'))
  const run = (...args: string[]) => {
    const r = spawnSync(process.env.BERTH_E2E_CRANE ?? 'crane', [...args, '--insecure'], {
      env: { ...process.env, DOCKER_CONFIG: dir },
      encoding: 'utf8',
      timeout: 60_000,
    })
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` }
  }
  return { run, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** robotRow is a robot account's row in the list, found by its login name. */
const robotRow = (page: Page, name: string) => page.getByRole('row').filter({ has: page.getByText(name, { exact: true }) })

test('a project robot with pull only is created in the dialog, pulls its project with crane, and is refused once disabled', async ({ page }) => {
  const project = `e2e-robots-${randomBytes(3).toString('hex')}`
  const other = `e2e-private-${randomBytes(3).toString('hex')}`
  const robot = `robot$${project}+puller`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, project)
  await createProject(page, other)
  const host = new URL(page.url()).host
  crane('append', '-f', process.env.BERTH_E2E_LAYER ?? '', '-t', `${host}/${project}/app:v1`)
  crane('append', '-f', process.env.BERTH_E2E_LAYER ?? '', '-t', `${host}/${other}/secret:v1`)

  await page.goto(`/projects/${project}`)
  await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Robot accounts' }).click()
  await expect(page).toHaveURL(new RegExp(`/projects/${project}/robots$`))
  await expect(page.getByText(`No robot accounts in ${project} yet.`)).toBeVisible()
  await shot(page, 'robots-empty')

  await page.getByRole('button', { name: 'New robot account' }).click()
  const dialog = page.getByRole('dialog', { name: 'New robot account' })
  await dialog.getByLabel('Name', { exact: true }).fill('puller')
  await expect(dialog).toContainText(robot)
  await dialog.getByLabel(/Description/).fill('CI pulls')
  await dialog.getByLabel('Expires after (days)').fill('7')
  const permissions = dialog.getByRole('group', { name: `Permissions in ${project}` })
  const repository = permissions.getByRole('group', { name: 'Repository' })
  await expect(repository.getByLabel('pull')).toBeChecked()
  await expect(repository.getByLabel('push')).not.toBeChecked()
  await expect(permissions.getByRole('checkbox', { checked: true })).toHaveCount(1)
  await shot(page, 'robot-new-dialog')
  await dialog.getByRole('button', { name: 'Create' }).click()

  // The secret, once, with a copy button, a warning and the docker login hint.
  const created = page.getByRole('dialog', { name: `Robot account ${robot} created` })
  await expect(created).toBeVisible()
  await expect(created).toContainText('Shown only once')
  await expect(created.getByRole('button', { name: 'Copy secret' })).toBeVisible()
  await expect(created).toContainText(`docker login ${host} -u '${robot}'`)
  const secret = (await created.getByTestId('robot-secret').textContent())?.trim() ?? ''
  expect(secret.length).toBeGreaterThanOrEqual(16)
  await shot(page, 'robot-secret')
  await created.getByRole('button', { name: 'Done' }).click()
  await expect(created).toBeHidden()
  await expect(page.getByText(secret)).toHaveCount(0)

  const row = robotRow(page, robot)
  await expect(row).toContainText('CI pulls')
  await expect(row).toContainText('Repository: pull')
  await expect(row).toContainText('Enabled')
  await expect(row).toContainText('admin')
  await expect(row.getByRole('cell').nth(4)).toHaveText('never')
  await shot(page, 'robots-list')

  // crane as the robot: its project's image pulls; another private project's does not; push is refused.
  const asRobot = freshCrane()
  try {
    expect(asRobot.run('auth', 'login', host, '-u', robot, '-p', secret).ok).toBe(true)
    const own = asRobot.run('manifest', `${host}/${project}/app:v1`)
    expect(own.ok, own.out).toBe(true)
    expect(JSON.parse(own.out).layers).toHaveLength(1)
    const elsewhere = asRobot.run('manifest', `${host}/${other}/secret:v1`)
    expect(elsewhere.ok, elsewhere.out).toBe(false)
    // library is public: anyone, this robot too, may pull from it.
    expect(asRobot.run('manifest', `${host}/library/e2e-hello:v1`).ok).toBe(true)
    const push = asRobot.run('append', '-f', process.env.BERTH_E2E_LAYER ?? '', '-t', `${host}/${project}/app:v2`)
    expect(push.ok, push.out).toBe(false)

    // The list says when it was last used (Berth writes that down every few seconds).
    await expect(async () => {
      await page.reload()
      await expect(robotRow(page, robot).getByRole('cell').nth(4)).not.toHaveText('never', { timeout: 1_000 })
    }).toPass({ timeout: 20_000 })

    // Disabled in the UI: crane is refused.
    await robotRow(page, robot).getByRole('button', { name: `Disable ${robot}` }).click()
    await expect(page.getByRole('status')).toHaveText(`Robot account ${robot} disabled.`)
    await expect(robotRow(page, robot)).toContainText('Disabled')
    await shot(page, 'robots-disabled')
    const refused = asRobot.run('manifest', `${host}/${project}/app:v1`)
    expect(refused.ok, refused.out).toBe(false)

    // Enabled again with a refreshed secret: the old one is refused, the new one pulls.
    await robotRow(page, robot).getByRole('button', { name: `Enable ${robot}` }).click()
    await expect(page.getByRole('status')).toHaveText(`Robot account ${robot} enabled.`)
    await robotRow(page, robot).getByRole('button', { name: `Refresh the secret of ${robot}` }).click()
    await page.getByRole('dialog', { name: `Refresh the secret of ${robot}?` }).getByRole('button', { name: 'Refresh secret' }).click()
    const renewed = page.getByRole('dialog', { name: `New secret for ${robot}` })
    await expect(renewed).toContainText('Shown only once')
    const newSecret = (await renewed.getByTestId('robot-secret').textContent())?.trim() ?? ''
    expect(newSecret).not.toBe(secret)
    await shot(page, 'robot-new-secret')
    await renewed.getByRole('button', { name: 'Done' }).click()
    expect(asRobot.run('manifest', `${host}/${project}/app:v1`).ok).toBe(false)
    expect(asRobot.run('auth', 'login', host, '-u', robot, '-p', newSecret).ok).toBe(true)
    expect(asRobot.run('manifest', `${host}/${project}/app:v1`).ok).toBe(true)
  } finally {
    asRobot.cleanup()
  }

  // Deleted after a confirmation.
  await robotRow(page, robot).getByRole('button', { name: `Delete robot account ${robot}` }).click()
  const confirm = page.getByRole('dialog', { name: `Delete robot account ${robot}?` })
  await confirm.getByRole('button', { name: 'Delete robot account' }).click()
  await expect(page.getByRole('status')).toHaveText(`Robot account ${robot} deleted.`)
  await expect(page.getByText(`No robot accounts in ${project} yet.`)).toBeVisible()
})

test('a system robot for chosen projects is created and deleted under Administration', async ({ page }) => {
  const project = `e2e-sysrobot-${randomBytes(3).toString('hex')}`
  const name = `mirror-${randomBytes(3).toString('hex')}`
  const robot = `robot$${name}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, project)

  await page.goto('/admin/users')
  await page.getByRole('navigation', { name: 'Administration sections' }).getByRole('link', { name: 'Robot accounts' }).click()
  await expect(page).toHaveURL(/\/admin\/robots$/)
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Robot accounts')

  await page.getByRole('button', { name: 'New robot account' }).click()
  const dialog = page.getByRole('dialog', { name: 'New robot account' })
  await dialog.getByLabel('Name', { exact: true }).fill(name)
  await dialog.getByLabel('Expires after (days)').fill('-1')
  await dialog.getByLabel('Only the projects chosen').check()
  await dialog.getByRole('group', { name: 'Chosen projects' }).getByLabel(project, { exact: true }).check()
  await dialog.getByRole('group', { name: 'Tag', exact: true }).getByLabel('create').check()
  await shot(page, 'admin-robot-new-dialog')
  await dialog.getByRole('button', { name: 'Create' }).click()
  const created = page.getByRole('dialog', { name: `Robot account ${robot} created` })
  await expect(created.getByTestId('robot-secret')).not.toBeEmpty()
  await created.getByRole('button', { name: 'Done' }).click()

  const row = robotRow(page, robot)
  await expect(row).toContainText(project)
  await expect(row).toContainText('Repository: pull')
  await expect(row).toContainText('Tag: create')
  await expect(row.getByRole('cell').nth(3)).toHaveText('Never')
  await shot(page, 'admin-robots')

  await row.getByRole('button', { name: `Delete robot account ${robot}` }).click()
  await page.getByRole('dialog', { name: `Delete robot account ${robot}?` }).getByRole('button', { name: 'Delete robot account' }).click()
  await expect(page.getByRole('status')).toHaveText(`Robot account ${robot} deleted.`)
  await expect(robotRow(page, robot)).toHaveCount(0)
})

test('an API token made from the user menu works as a Bearer token on /graphql until it is revoked', async ({ page, baseURL }) => {
  const name = `script-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)

  await page.getByRole('button', { name: /User menu for admin/ }).click()
  await page.getByRole('link', { name: 'API tokens' }).click()
  await expect(page).toHaveURL(/\/tokens$/)
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('API tokens')

  await page.getByRole('button', { name: 'New API token' }).click()
  const dialog = page.getByRole('dialog', { name: 'New API token' })
  await dialog.getByLabel('Name').fill(name)
  await dialog.getByLabel(/Expires after/).fill('30')
  await expect(dialog.getByLabel('Only the actions chosen')).toBeChecked()
  await dialog.getByRole('group', { name: 'Project' }).getByLabel('read').check()
  await shot(page, 'token-new-dialog')
  await dialog.getByRole('button', { name: 'Create' }).click()

  const created = page.getByRole('dialog', { name: `API token ${name} created` })
  await expect(created).toContainText('Shown only once')
  await expect(created.getByRole('button', { name: 'Copy token' })).toBeVisible()
  const token = (await created.getByTestId('api-token').textContent())?.trim() ?? ''
  expect(token.length).toBeGreaterThanOrEqual(16)
  await expect(created).toContainText(`curl -H "Authorization: Bearer ${token}"`)
  await expect(created).toContainText(`${baseURL}/graphql`)
  await shot(page, 'token-secret')
  await created.getByRole('button', { name: 'Done' }).click()
  await expect(page.getByText(token)).toHaveCount(0)

  const row = page.getByRole('row').filter({ hasText: name })
  await expect(row).toContainText('Project: read')
  await expect(row).toContainText('Repository: pull')
  await expect(row).toContainText('Active')

  // A client with no session cookie: only the token says who it is.
  const client = await request.newContext({ baseURL })
  try {
    const ask = () =>
      client.post('/graphql', {
        headers: { Authorization: `Bearer ${token}` },
        data: { query: '{ me { kind user { username } } }' },
      })
    const ok = await ask()
    expect(ok.status()).toBe(200)
    expect((await ok.json()).data.me).toEqual({ kind: 'USER', user: { username: 'admin' } })

    await expect(async () => {
      await page.reload()
      await expect(row.getByRole('cell').nth(4)).not.toHaveText('never', { timeout: 1_000 })
    }).toPass({ timeout: 20_000 })
    await shot(page, 'tokens')

    await row.getByRole('button', { name: `Revoke API token ${name}` }).click()
    await page.getByRole('dialog', { name: `Revoke API token ${name}?` }).getByRole('button', { name: 'Revoke token' }).click()
    await expect(page.getByRole('status')).toHaveText(`API token ${name} revoked.`)
    await expect(row).toContainText('Revoked')
    await shot(page, 'tokens-revoked')

    expect((await ask()).status()).toBe(401)
  } finally {
    await client.dispose()
  }
})

test('a maintainer sees the project robots without controls, a limited guest not at all; anyone with a password has API tokens', async ({ page }) => {
  const suffix = randomBytes(3).toString('hex')
  const project = `e2e-robots-ro-${suffix}`
  const maintainer = `e2e-robmaint-${suffix}`
  const guest = `e2e-robguest-${suffix}`
  const password = 'E2e-password-robots-1'
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  const projectID = await createProject(page, project)
  for (const [username, role] of [
    [maintainer, 'MAINTAINER'],
    [guest, 'LIMITED_GUEST'],
  ]) {
    await gql(page, 'mutation($input: CreateUserInput!) { createUser(input: $input) { id } }', { input: { username, password } })
    await gql(page, 'mutation($p: ID!, $u: String!, $r: Role!) { addMember(projectID: $p, username: $u, role: $r) { id } }', {
      p: projectID,
      u: username,
      r: role,
    })
  }
  await gql(page, 'mutation($input: CreateRobotInput!) { createRobot(input: $input) { secret } }', {
    input: { projectID, name: 'ci', permissions: [{ namespace: project, resource: 'repository', action: 'pull' }] },
  })

  await page.context().clearCookies()
  await logIn(page, password, maintainer)
  await expect(page).toHaveURL(/\/projects$/)
  await page.goto(`/projects/${project}`)
  await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Robot accounts' }).click()
  const row = robotRow(page, `robot$${project}+ci`)
  await expect(row).toContainText('Repository: pull')
  await expect(row).toContainText('Enabled')
  await expect(page.getByRole('button', { name: 'New robot account' })).toHaveCount(0)
  await expect(page.getByRole('columnheader', { name: 'Actions' })).toHaveCount(0)
  await expect(row.getByRole('button')).toHaveCount(0)
  await shot(page, 'robots-maintainer')

  await page.goto('/admin/robots')
  await expect(page.getByText('Only system administrators may see this page.')).toBeVisible()

  await page.getByRole('button', { name: `User menu for ${maintainer}` }).click()
  await page.getByRole('link', { name: 'API tokens' }).click()
  await expect(page.getByText('You have no API tokens yet.')).toBeVisible()
  await expect(page.getByRole('button', { name: 'New API token' })).toBeVisible()

  await page.context().clearCookies()
  await logIn(page, password, guest)
  await expect(page).toHaveURL(/\/projects$/)
  await page.goto(`/projects/${project}`)
  await expect(page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Robot accounts' })).toHaveCount(0)
})
