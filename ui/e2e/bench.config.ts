import { defineConfig } from '@playwright/test'
import base from './playwright.config'

// The render benchmark: the same server and browser as the tests, but only *.bench.ts files, which
// `make test` never runs (timings do not belong in pass/fail tests). `make bench-ui` runs it.
export default defineConfig({ ...base, testMatch: '*.bench.ts', timeout: 600_000 })
