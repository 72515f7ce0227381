import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import { artifactsDir, repoRoot, screenshotsDir, uiDir } from './paths'

// globalSetup starts a real Berth (its own database and data directory), pushes one image into it
// with crane, and returns the teardown that stops the server and drops the database. The tests
// learn where it runs from the environment variables set at the end.

const readyTimeoutMs = 60_000

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer()
    srv.once('error', fail)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      srv.close(() => (address && typeof address === 'object' ? ok(address.port) : fail(new Error('no port'))))
    })
  })
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, what: string): string {
  const r = spawnSync(command, args, { env, encoding: 'utf8', timeout: 120_000 })
  if (r.error) throw new Error(`${what}: run ${command}: ${r.error.message}`)
  if (r.status !== 0) {
    throw new Error(`${what}: ${command} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`)
  }
  return r.stdout.trim()
}

export async function waitReady(url: string, server: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs
  let last = 'no answer yet'
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`berth serve exited (${server.exitCode ?? server.signalCode}) before it was ready:\n${output()}`)
    }
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) })
      if (res.status === 200) return
      last = `${res.status} ${(await res.text()).trim()}`
    } catch (err) {
      last = String(err)
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`berth serve was not ready after ${readyTimeoutMs / 1000}s (last /readyz: ${last}); its output:\n${output()}`)
}

export function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve()
  return new Promise((done) => {
    const kill = setTimeout(() => server.kill('SIGKILL'), 20_000)
    server.once('exit', () => {
      clearTimeout(kill)
      done()
    })
    server.kill('SIGTERM')
  })
}

export function dropDatabase(name: string): void {
  const r = spawnSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], {
    encoding: 'utf8',
  })
  if (r.status !== 0) console.warn(`e2e teardown: drop database ${name}: ${r.error?.message ?? r.stderr}`)
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const bin = resolve(uiDir, process.env.BERTH_BIN || '../bin/berth')
  if (!existsSync(bin)) throw new Error(`no Berth binary at ${bin}: run \`make build\` first, or set BERTH_BIN`)
  const crane = process.env.CRANE || 'crane'

  mkdirSync(screenshotsDir, { recursive: true })
  const tmp = mkdtempSync(join(tmpdir(), 'berth-e2e-'))
  const port = await freePort()
  const host = `127.0.0.1:${port}`
  const url = `http://${host}`
  const database = `berth_e2e_${randomBytes(6).toString('hex')}`
  const password = `E2e1-${randomBytes(12).toString('hex')}`

  const log = createWriteStream(join(artifactsDir, 'berth.log'))
  let tail = ''
  const server = spawn(bin, ['serve'], {
    env: {
      ...process.env,
      BERTH_ADDR: host,
      DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${database}?sslmode=disable`,
      BERTH_DATA_DIR: join(tmp, 'data'),
      BERTH_ADMIN_PASSWORD: password,
      // The repository's small OSV fixture set: the built-in scanner's whole database in these tests.
      BERTH_ADVISORY_DIR: resolve(repoRoot, 'testdata/osv'),
      // The tests' webhook receivers and scanner adapters listen on loopback, which Berth refuses
      // to reach unless an administrator allows it.
      BERTH_OUTBOUND_ALLOW_CIDRS: '127.0.0.0/8',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const keep = (chunk: Buffer) => {
    log.write(chunk)
    tail = (tail + chunk.toString()).slice(-16_000)
  }
  server.stdout?.on('data', keep)
  server.stderr?.on('data', keep)

  const teardown = async () => {
    await stopServer(server)
    await new Promise((r) => log.end(r))
    dropDatabase(database)
    rmSync(tmp, { recursive: true, force: true })
  }

  try {
    await waitReady(url, server, () => tail)

    // One image with one small layer, pushed the way a user would.
    const layerDir = join(tmp, 'layer')
    mkdirSync(layerDir)
    writeFileSync(join(layerDir, 'hello.txt'), 'hello from the Berth e2e test\n')
    const layer = join(tmp, 'layer.tar')
    run('tar', ['-cf', layer, '-C', layerDir, 'hello.txt'], process.env, 'make layer')
    const craneEnv = { ...process.env, DOCKER_CONFIG: join(tmp, 'docker') }
    const image = `${host}/library/e2e-hello:v1`
    run(crane, ['auth', 'login', host, '-u', 'admin', '-p', password, '--insecure'], craneEnv, 'crane auth login')
    run(crane, ['append', '--insecure', '-f', layer, '-t', image], craneEnv, 'crane append')
    const digest = run(crane, ['digest', '--insecure', image], craneEnv, 'crane digest')
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`crane digest printed ${JSON.stringify(digest)}`)

    process.env.BERTH_E2E_URL = url
    process.env.BERTH_E2E_DATABASE_URL = `postgres://postgres@127.0.0.1:5432/${database}`
    process.env.BERTH_E2E_HOST = host
    process.env.BERTH_E2E_ADMIN_PASSWORD = password
    process.env.BERTH_E2E_DIGEST = digest
    // For tests that push while the browser watches.
    process.env.BERTH_E2E_CRANE = crane
    process.env.BERTH_E2E_DOCKER_CONFIG = craneEnv.DOCKER_CONFIG
    process.env.BERTH_E2E_LAYER = layer
  } catch (err) {
    await teardown()
    throw err
  }
  return teardown
}
