import { expect, test } from '@playwright/test'
import { randomBytes } from 'node:crypto'
import { crane, createProject, digest, gql, logIn, shot } from './helpers'
import { expectAccessible } from './axe'

test('the artifact page shows the pushed image, its config, and adds and deletes a tag and a label', async ({ page }) => {
  const tag = `e2e-${randomBytes(3).toString('hex')}`
  const labelName = `reviewed-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  const { project } = await gql<{ project: { id: string } }>(page, 'query { project(name: "library") { id } }')
  await gql(page, 'mutation($input: CreateLabelInput!) { createLabel(input: $input) { id } }', {
    input: { name: labelName, description: 'checked by the e2e suite', color: '#2e7d32', projectID: project.id },
  })

  await page.goto('/repositories/library/e2e-hello')
  const row = page.getByRole('row').filter({ hasText: 'v1' })
  await row.getByRole('link', { name: /open the artifact v1/ }).click()
  await expect(page).toHaveURL(new RegExp(`/repositories/library/e2e-hello/artifacts/${digest()}\\?tag=v1$`))
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`library/e2e-hello@${digest().slice(0, 19)}`)
  // The tag the reader came by is named, and the pull command uses it.
  await expect(page.getByText('Opened by tag')).toContainText('v1')
  await expect(page.locator('.command code')).toHaveText(/e2e-hello:v1$/)
  await expect(page.getByRole('main')).toContainText(digest())
  await expect(page.getByRole('button', { name: 'Copy digest' })).toBeVisible()
  await expect(page.getByRole('main')).toContainText('application/vnd.docker.distribution.manifest.v2+json')

  // The manifest as stored, naming the same config, on the overview.
  await expect(page.getByRole('region', { name: 'Manifest' })).toContainText('"schemaVersion": 2')
  const sections = page.getByRole('navigation', { name: 'Artifact sections' })

  // crane's image config, indented, with the layers and the build history.
  await sections.getByRole('link', { name: 'Layers' }).click()
  await expect(page).toHaveURL(/tab=layers/)
  await expect(page.getByRole('region', { name: 'Build history' })).toBeVisible()
  const config = page.getByRole('region', { name: 'Config' })
  await expect(config).toContainText('"rootfs": {')
  await expect(config).toContainText('"diff_ids": [')
  // What the manifest stands on: its config first, then the one layer.
  const blobs = page.getByRole('table', { name: 'Layers and config blob' }).locator('tbody tr td:first-child')
  await expect(blobs).toHaveText(['Config', 'Layer'])
  await expectAccessible(page, 'the artifact’s layers tab')
  await sections.getByRole('link', { name: 'Accessories' }).click()
  await expect(page.getByRole('region', { name: 'Accessories' })).toContainText('No signatures')
  await expectAccessible(page, 'the artifact’s accessories tab')
  await sections.getByRole('link', { name: 'Vulnerabilities' }).click()
  await expect(page.getByRole('region', { name: 'Vulnerabilities' })).toBeVisible()
  await expectAccessible(page, 'the artifact’s vulnerabilities tab')
  await sections.getByRole('link', { name: 'Overview' }).click()

  // A new tag appears among the tags.
  // Each tag and label is a list item: its name, then the button that takes it off.
  const tags = page.getByRole('list', { name: 'Tags' }).getByRole('listitem').locator('.chip-name')
  await expect(tags).toHaveText(['v1'])
  await page.getByLabel('New tag').fill(tag)
  await page.getByRole('button', { name: 'Add tag' }).click()
  await expect(tags).toHaveText([tag, 'v1'])

  // A label goes on and comes off, on the labels tab.
  await sections.getByRole('link', { name: 'Labels' }).click()
  await expectAccessible(page, 'the artifact’s labels tab')
  await page.getByLabel('Add a label').selectOption({ label: `${labelName} – checked by the e2e suite` })
  await page.getByRole('button', { name: 'Add label' }).click()
  const labels = page.getByRole('list', { name: 'Labels' }).getByRole('listitem').locator('.chip-name')
  await expect(labels).toHaveText([labelName])
  await shot(page, 'artifact')

  await page.getByRole('button', { name: `Remove label ${labelName}` }).click()
  await expect(page.getByRole('region', { name: 'Labels' })).toContainText('No labels.')
  await sections.getByRole('link', { name: 'Overview' }).click()

  // Deleting the tag asks first, then leaves the artifact with its first tag only.
  await page.getByRole('button', { name: `Delete tag ${tag}` }).click()
  const confirm = page.getByRole('dialog', { name: `Delete tag ${tag}?` })
  await confirm.getByRole('button', { name: 'Delete tag' }).click()
  await expect(confirm).toBeHidden()
  await expect(tags).toHaveText(['v1'])
  await expect(page.getByRole('status')).toHaveText(`Tag ${tag} deleted.`)
  await shot(page, 'artifact-tag-deleted')
})

test('an unknown digest says so', async ({ page }) => {
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await page.goto(`/repositories/library/e2e-hello/artifacts/sha256:${'0'.repeat(64)}`)
  await expect(page.getByText('does not exist, or you may not see it')).toBeVisible()
  await shot(page, 'artifact-missing')
})

test('an index lists its manifests, which link to their own pages', async ({ page }) => {
  const host = process.env.BERTH_E2E_HOST ?? ''
  const projectName = `e2e-index-${randomBytes(3).toString('hex')}`
  await logIn(page)
  await expect(page).toHaveURL(/\/projects$/)
  await createProject(page, projectName)
  crane('index', 'append', '-m', `${host}/library/e2e-hello@${digest()}`, '-t', `${host}/${projectName}/multi:v1`)
  const indexDigest = crane('digest', `${host}/${projectName}/multi:v1`)

  await page.goto(`/repositories/${projectName}/multi/artifacts/${indexDigest}`)
  await expect(page.getByRole('main')).toContainText('application/vnd.oci.image.index.v1+json')
  const children = page.getByRole('table', { name: 'Manifests in this index' })
  await expect(children.getByRole('row')).toHaveCount(2)
  await expect(children.locator('code.digest')).toHaveAttribute('title', digest())
  await shot(page, 'artifact-index')

  await children.getByRole('link').click()
  await expect(page).toHaveURL(new RegExp(`/repositories/${projectName}/multi/artifacts/${digest()}$`))
  await page.getByRole('navigation', { name: 'Artifact sections' }).getByRole('link', { name: 'Layers' }).click()
  await expect(page.getByRole('region', { name: 'Config' })).toContainText('"rootfs"')
})
