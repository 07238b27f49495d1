import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// Tests run against the TypeScript sources of every workspace package (and its source subpath exports), not
// their build output.
const alias: { find: RegExp; replacement: string }[] = [];
for (const group of ['packages', 'services']) {
  for (const dir of readdirSync(group)) {
    const manifest = join(group, dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name, exports = {} } = JSON.parse(readFileSync(manifest, 'utf8')) as { name: string; exports?: Record<string, { source?: string }> };
    for (const [subpath, target] of Object.entries(exports)) {
      if (!target.source) continue;
      const specifier = subpath === '.' ? name : `${name}/${subpath.slice(2)}`;
      alias.push({ find: new RegExp(`^${specifier.replace(/[/.]/g, '\\$&')}$`), replacement: resolve(group, dir, target.source) });
    }
  }
}

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/*/src/**/*.spec.ts', 'services/*/src/**/*.spec.ts', 'bench/**/*.spec.ts', 'infra/**/*.spec.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The default summary, then the plain closing line CI reads (infra/vitest/closingLine.ts).
    reporters: ['default', './infra/vitest/closingLine.ts'],
  },
});
