// Keeps docs/errors.md in step with the error-code table in src/core/errors.ts.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../../src/core/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\| `(GP_[A-Z_]+)` \| (\d{3}|none) \|/gm)].map((m) => ({ code: m[1] as string, status: m[2] === 'none' ? 0 : Number(m[2]) }));

t.test('every code in the table is documented with its status', async (t) => {
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    const row = rows.find((r) => r.code === code);
    t.ok(row, `${code} is documented in docs/errors.md`);
    if (row) t.equal(row.status, info.status, `${code} status in docs matches the code`);
  }
});

t.test('the docs list no unknown code and none twice', async (t) => {
  for (const row of rows) t.ok(row.code in ERROR_CODES, `${row.code} exists in src/core/errors.ts`);
  t.equal(new Set(rows.map((r) => r.code)).size, rows.length, 'no duplicate rows');
});
