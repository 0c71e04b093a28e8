// The bench's `glidepath-rollout` target, run as its own process: glidepath started as `glidepath
// serve` starts it (loadConfig, then startApp), plus what a rollout in progress adds on the
// request path: the real RolloutAnalysis installed as the data plane's outcome observer, with its
// evidence read every 250 ms as the rollout controller's tick reads it.
//
// Usage: glidepath-rollout.ts --root DIR --listen H:P --admin H:P --endpoints FILE --log-level L
//          --canary NAME --stable NAME --evidence-out FILE [--observer analysis|noop|none]
// DIR is the glidepath checkout (or exported revision) whose src/ is measured. On SIGTERM it
// writes the analysis's final evidence to FILE (the bench checks it saw every request), then stops
// the app as `serve` does.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

// Types from the working tree; the code itself is loaded from --root (a --ref export, maybe).
import type * as LoadModule from '../src/config/load.ts';
import type * as AppModule from '../src/app.ts';
import type * as AnalysisModule from '../src/rollout/analysis/analysis.ts';
import type * as ControlModule from '../src/core/control.ts';

/** The rollout controller's default tick (src/rollout/controller.ts): each tick reads the evidence. */
const TICK_MS = 250;

const { values: a } = parseArgs({
  options: {
    root: { type: 'string' },
    listen: { type: 'string' },
    admin: { type: 'string' },
    endpoints: { type: 'string' },
    'log-level': { type: 'string' },
    canary: { type: 'string' },
    stable: { type: 'string' },
    'evidence-out': { type: 'string' },
    observer: { type: 'string', default: 'analysis' },
  },
});
const missing = ['root', 'listen', 'admin', 'endpoints', 'canary', 'stable', 'evidence-out'].filter(
  (k) => a[k as keyof typeof a] === undefined,
);
if (missing.length > 0) {
  console.error(`glidepath-rollout.ts: missing --${missing.join(', --')}`);
  process.exit(2);
}
if (!['analysis', 'noop', 'none'].includes(a.observer as string)) {
  console.error(`glidepath-rollout.ts: --observer ${a.observer}: expected analysis, noop or none`);
  process.exit(2);
}
const root = a.root as string;
const load = (await import(join(root, 'src/config/load.ts'))) as typeof LoadModule;
const { startApp } = (await import(join(root, 'src/app.ts'))) as typeof AppModule;
const { RolloutAnalysis } = (await import(join(root, 'src/rollout/analysis/analysis.ts'))) as typeof AnalysisModule;
const { systemClock } = (await import(join(root, 'src/core/control.ts'))) as typeof ControlModule;

const config = load.loadConfig({
  env: process.env,
  flags: { listen: a.listen, 'admin.listen': a.admin, 'endpoints.file': a.endpoints, 'log.level': a['log-level'] },
});
const app = await startApp(config);
const analysis = new RolloutAnalysis({ canary: a.canary as string, stable: a.stable as string, clock: systemClock });
// `--observer noop|none` takes the rollout apart when its cost is in question: the weighted split
// alone (none), plus the observer calls on the request path (noop), plus the analysis (the default).
if (a.observer === 'noop') app.dataPlane.setOutcomeObserver({ firstAttempt: () => {}, requestDone: () => {} });
else if (a.observer === 'analysis') app.dataPlane.setOutcomeObserver(analysis);
let ticks = 0;
const tick = setInterval(() => {
  analysis.evidence();
  ticks++;
}, TICK_MS);

let signalled = false;
const onSignal = (): void => {
  if (signalled) process.exit(1);
  signalled = true;
  clearInterval(tick);
  writeFileSync(
    a['evidence-out'] as string,
    `${JSON.stringify({ ticks, evidence: analysis.evidence(), callbackError: analysis.callbackError === undefined ? null : String(analysis.callbackError) })}\n`,
  );
  app.stop().then(
    () => setImmediate(() => process.exit(0)),
    (err: unknown) => {
      console.error(`stop failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
