import { expect, test } from '@playwright/test'
import { createHmac, randomBytes } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createProject, gql, logIn, shot } from './helpers'

interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

test('a webhook policy is created, shows its secret once, and delivers a signed test event', async ({ page }) => {
  // A receiver on loopback that records every request and answers 200.
  const received: Received[] = []
  const receiver = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('thanks from the e2e receiver')
    })
  })
  await new Promise<void>((ok) => receiver.listen(0, '127.0.0.1', ok))
  const address = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/berth`

  try {
    const projectName = `e2e-hooks-${randomBytes(3).toString('hex')}`
    await logIn(page)
    await expect(page).toHaveURL(/\/projects$/)
    await createProject(page, projectName)

    await page.goto(`/projects/${projectName}`)
    await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Webhooks' }).click()
    await expect(page.getByText('No webhooks yet.')).toBeVisible()

    await page.getByRole('button', { name: 'New webhook' }).click()
    const dialog = page.getByRole('dialog', { name: 'New webhook' })
    await dialog.getByLabel('Name').fill('receiver')
    await dialog.getByLabel('Endpoint URL').fill(address)
    const events = dialog.getByRole('group', { name: 'Event types' })
    await expect(events.getByLabel('Artifact pushed')).toBeChecked()
    await events.getByLabel('Tag created').check()
    await dialog.getByRole('group', { name: 'Payload format' }).getByLabel('Harbor').check()
    await dialog.getByLabel(/Authorization header/).fill('Bearer e2e-token')
    await shot(page, 'webhook-new-dialog')
    await dialog.getByRole('button', { name: 'Create' }).click()

    // The secret, once: with a copy button and a warning; gone after Done.
    const created = page.getByRole('dialog', { name: 'Webhook created' })
    await expect(created).toBeVisible()
    await expect(created).toContainText('Shown only once')
    await expect(created.getByRole('button', { name: 'Copy signing secret' })).toBeVisible()
    const secret = (await created.getByTestId('webhook-secret').textContent())?.trim() ?? ''
    expect(secret).toMatch(/^[0-9a-f]{64}$/)
    await shot(page, 'webhook-secret')
    await created.getByRole('button', { name: 'Done' }).click()
    await expect(created).toBeHidden()
    await expect(page.getByText(secret)).toHaveCount(0)

    const policy = page.getByRole('region', { name: 'receiver' })
    await expect(policy).toContainText(address)
    await expect(policy.getByRole('listitem')).toHaveText(['Artifact pushed', 'Tag created'])
    await expect(policy.getByRole('switch', { name: 'Enabled' })).toBeChecked()

    await policy.getByRole('button', { name: 'Send test event to receiver' }).click()
    await expect(policy.getByRole('status')).toContainText('Test event queued')
    const history = policy.getByRole('table', { name: /Deliveries of webhook receiver/ })
    const delivery = history.getByRole('row').nth(1)
    await expect(delivery.getByRole('cell').first()).toHaveText('Succeeded', { timeout: 20_000 })
    await expect(delivery).toContainText('ARTIFACT_PUSHED')
    await expect(delivery.getByRole('cell').nth(3)).toHaveText('200')
    await expect(delivery).toContainText('test')
    await expect(delivery).toContainText('thanks from the e2e receiver')
    await shot(page, 'webhook-delivered')

    // What the receiver got: a Harbor-style JSON body, signed with the secret shown above.
    expect(received).toHaveLength(1)
    const [request] = received
    expect(request.method).toBe('POST')
    expect(request.url).toBe('/hooks/berth')
    expect(request.headers['content-type']).toContain('application/json')
    expect(request.headers.authorization).toBe('Bearer e2e-token')
    expect(request.body).toContain('"type":"PUSH_ARTIFACT"')
    expect(JSON.parse(request.body).type).toBe('PUSH_ARTIFACT')
    const signature = request.headers['x-berth-signature-256']
    expect(signature).toBe(`sha256=${createHmac('sha256', secret).update(request.body).digest('hex')}`)

    // Disabling sticks.
    await policy.getByRole('switch', { name: 'Enabled' }).uncheck()
    await expect(page.getByRole('status').first()).toContainText('Webhook receiver disabled.')
    await page.reload()
    await expect(page.getByRole('region', { name: 'receiver' }).getByRole('switch', { name: 'Enabled' })).not.toBeChecked()

    // Twenty more test events (through the API): the history pages by 20 and polls until none is pending.
    const { project } = await gql<{ project: { id: string } }>(page, `query { project(name: "${projectName}") { id } }`)
    const { webhookPolicies } = await gql<{ webhookPolicies: { id: string }[] }>(
      page,
      'query($id: ID!) { webhookPolicies(projectID: $id) { id } }',
      { id: project.id },
    )
    for (let i = 0; i < 20; i++) {
      await gql(page, 'mutation($id: ID!) { testWebhookPolicy(id: $id) { id } }', { id: webhookPolicies[0].id })
    }
    await policy.getByRole('button', { name: 'Show deliveries of receiver' }).click()
    await expect(policy).toContainText('21 deliveries')
    await expect(history.getByRole('row')).toHaveCount(21) // the header and 20 deliveries
    await expect(history.getByText(/^(Pending|Retrying)$/)).toHaveCount(0, { timeout: 20_000 })
    await expect(history.getByText('Succeeded')).toHaveCount(20)
    const pager = policy.getByRole('navigation', { name: 'Deliveries of receiver pages' })
    await pager.getByRole('button', { name: /Next/ }).click()
    await expect(history.getByRole('row')).toHaveCount(2)
    await pager.getByRole('button', { name: /Previous/ }).click()
    await expect(history.getByRole('row')).toHaveCount(21)
    expect(received).toHaveLength(21)

    // Edit: a new name and fewer events.
    await policy.getByRole('button', { name: 'Edit webhook receiver' }).click()
    const edit = page.getByRole('dialog', { name: 'Edit webhook receiver' })
    await edit.getByLabel('Name').fill('receiver-2')
    await edit.getByRole('group', { name: 'Event types' }).getByLabel('Tag created').uncheck()
    await edit.getByRole('button', { name: 'Save' }).click()
    await expect(edit).toBeHidden()
    const renamed = page.getByRole('region', { name: 'receiver-2' })
    await expect(renamed.getByRole('listitem')).toHaveText(['Artifact pushed'])
    await shot(page, 'webhook-edited')

    // Delete, after a confirmation.
    await renamed.getByRole('button', { name: 'Delete webhook receiver-2' }).click()
    await page.getByRole('dialog', { name: 'Delete webhook receiver-2?' }).getByRole('button', { name: 'Delete webhook' }).click()
    await expect(page.getByText('No webhooks yet.')).toBeVisible()
  } finally {
    // Berth's HTTP client keeps connections open for reuse: close them, or close() waits for them.
    receiver.closeAllConnections()
    await new Promise((done) => receiver.close(done))
  }
})
