import { readFileSync } from 'node:fs';

/** zdd's own version, from the package.json one level above both src/ and dist/. */
export const version: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
