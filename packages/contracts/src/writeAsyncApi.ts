// pnpm asyncapi: writes docs/asyncapi.json from the contracts (a test checks it is current and compatible).
import { readFileSync, writeFileSync } from 'node:fs';
import { asyncApiDocument } from './asyncapi.ts';

export const ASYNCAPI_FILE = new URL('../../../docs/asyncapi.json', import.meta.url);
export const contractsVersion = () => (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
export const renderAsyncApi = () => `${JSON.stringify(asyncApiDocument(contractsVersion()), null, 2)}\n`;

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  writeFileSync(ASYNCAPI_FILE, renderAsyncApi());
  process.stdout.write(`wrote ${ASYNCAPI_FILE.pathname}\n`);
}
