import type { CodegenConfig } from '@graphql-codegen/cli'

// The schema files in ../graph/schema are the source of truth; src/gql is generated (and git-ignored).
const config: CodegenConfig = {
  schema: '../graph/schema/*.graphqls',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*'],
  ignoreNoDocuments: true,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { Time: 'string', Cursor: 'string', Map: 'Record<string, string>', ID: 'string' },
      },
    },
  },
}

export default config
