// The import-direction rules of eslint.config.js, run through ESLint's API on small snippets
// placed at (nested) paths: a banned import must be reported, an allowed one must not.

import t from 'tap';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../../', import.meta.url));
const eslint = new ESLint({ cwd: root });
const RULE = '@typescript-eslint/no-restricted-imports';

async function banned(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport {};\n`, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === RULE).map((m) => m.message);
}

const cases: readonly [file: string, code: string, reported: boolean][] = [
  // Nested folders keep their parent's bans: a relative path two levels up still names the area.
  ['src/rollout/actions/rollback.ts', "import { DataPlane } from '../../dataplane/dataplane.ts';", true],
  ['src/rollout/actions/rollback.ts', "import { buildStatus } from '../../admin/status.ts';", true],
  ['src/rollout/actions/rollback.ts', "import { AppsV1Api } from '@kubernetes/client-node';", false],
  ['src/rollout/actions/rollback.ts', "import type { Evidence } from '../evidence.ts';", false],
  ['src/rollout/decide.ts', "import { AppsV1Api } from '@kubernetes/client-node';", true],
  ['src/rollout/analysis/eprocess.ts', "import { VersionStats } from '../../dataplane/stats.ts';", true],
  ['src/rollout/analysis/eprocess.ts', "import { systemClock } from '../../core/control.ts';", false],
  ['src/discovery/kubernetes/informers.ts', "import { UpstreamEndpoint } from '../../dataplane/upstream.ts';", true],
  ['src/discovery/kubernetes/informers.ts', "import { decide } from '../../rollout/decide.ts';", true],
  ['src/discovery/kubernetes/informers.ts', "import { Informer } from '@kubernetes/client-node';", false],
  ['src/discovery/kubernetes/informers.ts', "import type { DiscoverySource } from '../source.ts';", false],
  ['src/discovery/static-file.ts', "import { Informer } from '@kubernetes/client-node';", true],
  ['src/core/deep/nested.ts', "import { DataPlane } from '../../dataplane/dataplane.ts';", true],
  ['src/core/control.ts', "import { request } from 'undici';", true],
  // telemetry and admin read the data plane through core's interfaces only.
  ['src/telemetry/metrics.ts', "import type { DataPlane } from '../dataplane/dataplane.ts';", true],
  ['src/admin/status.ts', "import { DataPlane } from '../dataplane/dataplane.ts';", true],
  ['src/admin/status.ts', "import type { DataPlaneStatusView } from '../core/status-view.ts';", false],
  // The CLI: config, core, version; the app only lazily; types of the documents it reads.
  ['src/cli/main.ts', "import { DataPlane } from '../dataplane/dataplane.ts';", true],
  ['src/cli/main.ts', "import { startApp } from '../app.ts';", true],
  ['src/cli/main.ts', "const { startApp } = await import('../app.ts'); void startApp;", false],
  ['src/cli/main.ts', "import type { App } from '../app.ts';", false],
  ['src/cli/main.ts', "import type { StatusDocument } from '../admin/status.ts';", false],
  ['src/cli/main.ts', "import { buildStatus } from '../admin/status.ts';", true],
  ['src/cli/main.ts', "import pino from 'pino';", true],
  ['src/cli/main.ts', "import { request } from 'undici';", true],
  ['src/cli/main.ts', "import { KubeConfig } from '@kubernetes/client-node';", true],
  ['src/cli/commands/status.ts', "import { Registry } from 'prom-client';", true],
  ['src/cli/main.ts', "import { loadConfig } from '../config/load.ts';", false],
  ['src/cli/main.ts', "import { PACKAGE_VERSION } from '../version.ts';", false],
  // Inside its own area nothing is banned.
  ['src/dataplane/forward.ts', "import { socketPredates } from './upstream.ts';", false],
];

for (const [file, code, reported] of cases) {
  t.test(`${file}: ${code}`, async (t) => {
    const messages = await banned(file, code);
    if (reported) t.ok(messages.length > 0 && messages.every((m) => m.includes('import direction:')), 'reported', { messages });
    else t.same(messages, [], 'allowed');
  });
}
