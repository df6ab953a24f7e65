import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', 'testing/fake-api': 'src/testing/fake-api.ts' },
  format: ['cjs', 'esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // The country-name tables are JSON: bundle them, so the ESM build needs no import attributes.
  noExternal: [/^i18n-iso-countries\/langs\//],
})
