// `npm start`: glidepath in front of two bundled demo pods (v1 and v2, 90/10), no cluster needed.
// Every process is a real child; Ctrl-C stops them all.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const children: ChildProcess[] = [];

function start(args: string[], env: Record<string, string>, label: string): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout?.on('data', (d: Buffer) =>
    process.stdout.write(
      d
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => `[${label}] ${l}\n`)
        .join(''),
    ),
  );
  children.push(child);
  return child;
}

start(['src/demo/main.ts'], { HOST: '127.0.0.1', PORT: '3001', APP_VERSION: 'v1', POD_NAME: 'demo-v1' }, 'pod v1');
start(['src/demo/main.ts'], { HOST: '127.0.0.1', PORT: '3002', APP_VERSION: 'v2', POD_NAME: 'demo-v2' }, 'pod v2');
const proxy = start(
  ['src/cli/main.ts', 'serve', '--endpoints', 'examples/endpoints.yaml', '--listen', '127.0.0.1:8080', '--admin', '127.0.0.1:9901'],
  {},
  'glidepath',
);

console.log(`
glidepath is starting on http://127.0.0.1:8080 in front of two demo pods (v1 90%, v2 10%).
  curl -s http://127.0.0.1:8080/            # answered by v1 or v2
  curl -s http://127.0.0.1:9901/status      # versions, endpoints, counters
  curl -s http://127.0.0.1:9901/metrics     # Prometheus text
Edit examples/endpoints.yaml (weights, ready, terminating) and watch it apply live. Ctrl-C stops everything.
`);

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(0), 3_000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
proxy.on('exit', (code) => {
  if (!stopping) {
    console.error(`glidepath exited with code ${code}`);
    stop();
  }
});
