import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** uiDir is ui/ in the Berth repository; repoRoot is the repository itself. */
export const uiDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const repoRoot = resolve(uiDir, '..')

/** artifactsDir holds the server log and the screenshots of a run. */
export const artifactsDir = resolve(repoRoot, 'test-artifacts/e2e')
export const screenshotsDir = resolve(artifactsDir, 'screenshots')
