// `npm run docs`: regenerates the README's configuration reference from the config schema.

import { readFileSync, writeFileSync } from 'node:fs';
import { withConfigReference } from '../src/config/docs.ts';

const path = new URL('../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withConfigReference(before);
if (after !== before) writeFileSync(path, after);
console.log(after === before ? 'README.md: configuration reference already up to date' : 'README.md: configuration reference regenerated');
