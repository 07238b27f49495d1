import { defineConfig } from 'vite';

// The dashboard is served by the gateway from web/dist (/ and /assets/*): no outside network, no inline script.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, assetsInlineLimit: 0, modulePreload: { polyfill: false }, target: 'es2022' },
});
