import { expect, type Page } from '@playwright/test'
import { spawnSync } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { screenshotsDir } from './paths'

// What global-setup.ts left for us: a running Berth with library/e2e-hello:v1 pushed by crane.
export const adminPassword = () => process.env.BERTH_E2E_ADMIN_PASSWORD ?? ''
export const digest = () => process.env.BERTH_E2E_DIGEST ?? ''

/** crane runs crane with the credentials global-setup.ts logged in with. */
export function crane(...args: string[]): string {
  const r = spawnSync(process.env.BERTH_E2E_CRANE ?? 'crane', [...args, '--insecure'], {
    env: { ...process.env, DOCKER_CONFIG: process.env.BERTH_E2E_DOCKER_CONFIG },
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.status !== 0) throw new Error(`crane ${args.join(' ')}: ${r.error?.message ?? r.stderr}`)
  return r.stdout.trim()
}

/** shot saves a full-page screenshot as screenshots/<name>.png. */
export async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(screenshotsDir, `${name}.png`), fullPage: true })
}

/** logIn signs in through the form and waits for the project list. */
export async function logIn(page: Page, password = adminPassword(), username = 'admin') {
  await page.goto('/login')
  await page.getByLabel('Username').fill(username)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Log in' }).click()
}

/**
 * gql runs a GraphQL operation with the browser's session cookie, for setting up what a test is not
 * about; it fails the test on any error.
 */
export async function gql<T = Record<string, unknown>>(page: Page, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await page.request.post('/graphql', { data: { query, variables } })
  expect(res.ok()).toBeTruthy()
  const body = await res.json()
  expect(body.errors).toBeUndefined()
  return body.data as T
}

/** createProject makes a project through the API and returns its id. */
export async function createProject(page: Page, name: string, isPublic = false): Promise<string> {
  const data = await gql<{ createProject: { id: string } }>(
    page,
    'mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }',
    { input: { name, public: isPublic } },
  )
  return data.createProject.id
}

/** closedPort is a loopback port nothing listens on: one just given up by a server. */
export async function closedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((ok) => s.close(() => ok()))
  return port
}
