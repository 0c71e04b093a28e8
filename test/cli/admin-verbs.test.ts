// `glidepath promote|abort|pause|resume` as an operator runs them against a real glidepath: the
// token from a file and from the environment, and every refusal explained (401, 403, 409).

import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { GlidepathError } from '../../src/core/errors.ts';
import { cli, dir, glidepath, startDemoPods, TOKEN } from './admin-harness.ts';

const pods = await startDemoPods(t);

t.test('verbs against a glidepath with no rollout controller: 409, said plainly', async (t) => {
  const gp = await glidepath(t, pods, { token: TOKEN });
  for (const verb of ['abort', 'resume']) {
    const r = await cli([verb, '--admin', gp.adminUrl], { GLIDEPATH_ADMIN_TOKEN: TOKEN });
    t.equal(r.code, 1, verb);
    t.equal(r.out, '');
    t.equal(
      r.err,
      `glidepath ${verb}: the admin API answered 409 GP_CONFLICT: no rollout controller: glidepath runs without --deployment (static endpoints), so there is nothing to ${verb}\n`,
    );
  }
});

t.test('the token: from a file or GLIDEPATH_ADMIN_TOKEN; wrong is 401, absent is a usage error', async (t) => {
  const calls: { verb: string; body: unknown }[] = [];
  const gp = await glidepath(t, pods, {
    token: TOKEN,
    actions: {
      pause: (body) => {
        calls.push({ verb: 'pause', body });
        return { phase: 'paused', message: 'rollout paused at step 2/4' };
      },
      promote: (body) => void calls.push({ verb: 'promote', body }),
      resume: () => {
        throw new GlidepathError('GP_CONFLICT', 'the rollout is not paused');
      },
    },
  });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });

  const fromFile = await cli(['pause', '--admin', gp.adminUrl, '--token-file', tokenFile, '--reason', 'waiting for the DBA']);
  t.equal(fromFile.code, 0, fromFile.err);
  t.equal(fromFile.out, `pause: accepted by ${gp.adminUrl}: rollout paused at step 2/4\n`);
  t.same(calls.at(-1), { verb: 'pause', body: { reason: 'waiting for the DBA' } }, 'the reason reaches the action');

  const fromEnv = await cli(['promote', '--admin', gp.adminUrl, '--json'], { GLIDEPATH_ADMIN_TOKEN: TOKEN });
  t.equal(fromEnv.code, 0, fromEnv.err);
  t.same(JSON.parse(fromEnv.out), { ok: true });
  t.same(calls.at(-1), { verb: 'promote', body: {} });

  const fileWins = await cli(['promote', '--admin', gp.adminUrl, '--token-file', tokenFile], { GLIDEPATH_ADMIN_TOKEN: 'stale' });
  t.equal(fileWins.code, 0, '--token-file wins over the environment');

  const wrong = await cli(['pause', '--admin', gp.adminUrl], { GLIDEPATH_ADMIN_TOKEN: 'not-the-token' });
  t.equal(wrong.code, 1);
  t.equal(
    wrong.err,
    'glidepath pause: the admin API refused the token: the bearer token does not match admin.token; use the admin.token of that glidepath (--token-file FILE or GLIDEPATH_ADMIN_TOKEN)\n',
  );

  const none = await cli(['pause', '--admin', gp.adminUrl]);
  t.equal(none.code, 2);
  t.match(none.err, /^glidepath pause: no admin token: pass --token-file FILE or set GLIDEPATH_ADMIN_TOKEN/);
  t.match(none.err, /\nUsage: glidepath pause \[--admin URL\] \[--token-file FILE\] \[--reason TEXT\]/);

  const missingFile = await cli(['pause', '--admin', gp.adminUrl, '--token-file', join(dir, 'nope')]);
  t.equal(missingFile.code, 1);
  t.match(missingFile.err, /cannot read the token file .*nope: no such file/);
  const emptyFile = join(dir, 'empty');
  writeFileSync(emptyFile, '\n');
  t.match(
    (await cli(['pause', '--admin', gp.adminUrl, '--token-file', emptyFile])).err,
    /the admin token from --token-file .*empty is empty/,
  );

  const refused = await cli(['resume', '--admin', gp.adminUrl], { GLIDEPATH_ADMIN_TOKEN: TOKEN });
  t.equal(refused.code, 1);
  t.equal(
    refused.err,
    'glidepath resume: the admin API answered 409 GP_CONFLICT: the rollout is not paused\n',
    'the controller refusal comes through',
  );
  t.equal(calls.length, 3, 'only the accepted calls reached actions');
});

t.test('verbs are disabled without admin.token: 403, not 401', async (t) => {
  const gp = await glidepath(t, pods, { token: '' });
  const r = await cli(['abort', '--admin', gp.adminUrl, '--reason', 'bad deploy'], { GLIDEPATH_ADMIN_TOKEN: TOKEN });
  t.equal(r.code, 1);
  t.equal(
    r.err,
    'glidepath abort: the admin API refused the verb: mutating verbs are disabled on this glidepath: set admin.token (GLIDEPATH_ADMIN_TOKEN) where it runs\n',
  );
  t.equal((await cli(['status', '--admin', gp.adminUrl])).code, 0, 'status needs no token');
});
