import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { defineConfig, type Plugin } from 'vite'
import react from '@vitejs/plugin-react'

// The Berth server that `npm run dev` talks to.
const backend = process.env.BERTH_DEV_BACKEND ?? 'http://127.0.0.1:8080'

// Vite empties dist/ before a build, but the Go embed (ui/embed.go) needs the folder to exist in a
// fresh clone, so git tracks dist/.gitkeep: put it back after every build.
function keepGitkeep(): Plugin {
  let outDir = 'dist'
  return {
    name: 'berth-keep-gitkeep',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir
    },
    writeBundle() {
      writeFileSync(join(outDir, '.gitkeep'), '')
    },
  }
}

const proxied = { target: backend, changeOrigin: true }

export default defineConfig({
  base: '/',
  plugins: [react(), keepGitkeep()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  server: {
    proxy: {
      '/graphql': {
        ...proxied,
        ws: true,
        // The server accepts WebSocket upgrades from its own origin only.
        configure: (proxy) => {
          proxy.on('proxyReqWs', (req) => req.setHeader('origin', backend))
        },
      },
      '/v2': proxied,
      '/service': proxied,
      '/api': proxied,
      '/auth': proxied,
      '/healthz': proxied,
    },
  },
})
