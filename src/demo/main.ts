// Entry point of the demo app as its own process: `node src/demo/main.ts` (or `glidepath demo-app`).

import { runDemoApp } from './app.ts';

runDemoApp(process.env).catch((err: unknown) => {
  process.stderr.write(`demo app failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
