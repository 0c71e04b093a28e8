#!/usr/bin/env node
// The `glidepath` command line: parses arguments, runs one command, and turns failures into
// clear messages and exit codes (0 ok, 1 invalid input or failure, 2 usage error).

import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import { ValidationError, GlidepathError } from '../core/errors.ts';
import { PACKAGE_VERSION } from '../version.ts';
import { StaticFileDiscovery } from '../discovery/static-file.ts';
import { ADMIN_COMMANDS } from './admin-commands.ts';

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<Parameters<typeof parseArgs>[0]>['options'];
  readonly help: string;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

const out = (text: string): void => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const err = (text: string): void => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run the proxy',
    usage:
      'glidepath serve [--config FILE] [--listen HOST:PORT] [--admin HOST:PORT] [--endpoints FILE] [--log-level LEVEL]\n' +
      '                       [--kubeconfig FILE] [--namespace NS] [--service SVC] [--deployment DEPLOY] [--port NAME|NUMBER]',
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      admin: { type: 'string' },
      endpoints: { type: 'string' },
      'log-level': { type: 'string' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      service: { type: 'string' },
      deployment: { type: 'string' },
      port: { type: 'string' },
    },
    help: `Runs the proxy listener and the admin listener.

Options (precedence: defaults < config file < GLIDEPATH_* environment < flags):
  -c, --config FILE        YAML (or JSON) configuration file
      --listen HOST:PORT   proxy listener (config: listen)
      --admin HOST:PORT    admin listener (config: admin.listen)
      --endpoints FILE     static endpoints file, watched for changes (config: endpoints.file)
      --log-level LEVEL    fatal, error, warn, info, debug, trace or silent (config: log.level)

Discovery from Kubernetes (instead of --endpoints):
      --kubeconfig FILE    kubeconfig to reach the API; without it the pod's service account
                           is used (config: kubernetes.kubeconfig)
  -n, --namespace NS       namespace of the Service and Deployment; default the kubeconfig
                           context's namespace, or the pod's own (config: kubernetes.namespace)
      --service SVC        Service whose EndpointSlices and pods to route to (config: kubernetes.service)
      --deployment DEPLOY  Deployment behind it, watched with its ReplicaSets for rollouts;
                           without it glidepath only routes and drains (config: kubernetes.deployment)
      --port NAME|NUMBER   Service port by name or number (or the pods' port number); default
                           the Service's first port (config: kubernetes.port)
  glidepath needs get, list and watch on services, pods, endpointslices.discovery.k8s.io,
  deployments.apps and replicasets.apps in that namespace. /readyz answers 503 until every
  watch has synced; /status shows each watch under discovery.watches.

SIGTERM or SIGINT stops it gracefully; a second signal exits at once.`,
    async run(values) {
      const config = loadConfig({
        file: values.config as string | undefined,
        env: process.env,
        flags: {
          listen: values.listen,
          'admin.listen': values.admin,
          'endpoints.file': values.endpoints,
          'log.level': values['log-level'],
          'kubernetes.kubeconfig': values.kubeconfig,
          'kubernetes.namespace': values.namespace,
          'kubernetes.service': values.service,
          'kubernetes.deployment': values.deployment,
          'kubernetes.port': values.port,
        },
      });
      const { startApp } = await import('../app.ts');
      const app = await startApp(config);
      return new Promise<number>((resolve) => {
        let signalled = false;
        const onSignal = (signal: NodeJS.Signals): void => {
          if (signalled) {
            app.logger.warn({ signal }, 'second signal: exiting at once');
            process.exit(1);
          }
          signalled = true;
          app.logger.info({ signal }, 'stopping');
          app.stop().then(
            () => resolve(0),
            (e: unknown) => {
              app.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'stop failed');
              resolve(1);
            },
          );
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
    },
  },
  'check-config': {
    summary: 'validate a configuration file (and the endpoints file it names)',
    usage: 'glidepath check-config FILE',
    options: {},
    help: `Validates FILE with the same rules as serve (environment variables included) and, when
it names an endpoints file, validates that too. Prints every error with its field path and
exits 1, or prints "ok" and exits 0.`,
    async run(_values, positionals) {
      const file = positionals[0];
      if (file === undefined || positionals.length > 1) throw new UsageError('check-config takes exactly one FILE');
      const config = loadConfig({ file, env: process.env });
      if (config.endpoints.file !== '') {
        const source = new StaticFileDiscovery(config.endpoints.file);
        await source.start({ onSnapshot: () => undefined, onError: () => undefined });
        await source.close();
      }
      out(`ok: ${file}${config.endpoints.file ? ` (endpoints: ${config.endpoints.file})` : ''}`);
      return 0;
    },
  },
  // status, promote, abort, pause, resume: the operator's commands against a running glidepath.
  ...ADMIN_COMMANDS,
  'demo-app': {
    summary: 'run the demo app (the fake pod used by tests, the simulated cluster and the demo)',
    usage: 'glidepath demo-app',
    options: {},
    help: `Runs the demo HTTP app. Configured by environment: HOST, PORT, APP_VERSION, POD_NAME,
FAIL_RATE, FAIL_STATUS, FAIL_METHODS, LATENCY_MS, HANG, CRASH_AFTER, READY_DELAY_MS,
ON_SIGTERM (drain|exit), DRAIN_MS, KEEPALIVE_TIMEOUT_MS, IDLE_CLOSE_MS, LEDGER_FILE.`,
    async run() {
      const { runDemoApp } = await import('../demo/app.ts');
      await runDemoApp(process.env);
      return new Promise<number>(() => undefined);
    },
  },
};

class UsageError extends Error {}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `glidepath ${PACKAGE_VERSION}: a traffic-aware deployment proxy for Kubernetes

Usage: glidepath <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}
  help [command]  show help

Global options:
  -h, --help      show help
  -v, --version   print the version`;
}

function commandHelp(name: string, command: Command): string {
  return `Usage: ${command.usage}\n\n${command.help}`;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help') {
    out(mainHelp());
    return first === undefined ? 2 : 0;
  }
  if (first === '-v' || first === '--version') {
    out(PACKAGE_VERSION);
    return 0;
  }
  if (first === 'help') {
    const topic = rest[0];
    const command = topic === undefined ? undefined : COMMANDS[topic];
    if (topic !== undefined && command === undefined) {
      err(`glidepath: unknown command "${topic}"\n\n${mainHelp()}`);
      return 2;
    }
    out(command === undefined ? mainHelp() : commandHelp(topic as string, command));
    return 0;
  }
  const command = COMMANDS[first];
  if (command === undefined) {
    err(`glidepath: unknown command "${first}"\n\n${mainHelp()}`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    out(commandHelp(first, command));
    return 0;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
    if (first === 'serve' && positionals.length > 0) throw new UsageError(`serve takes no positional arguments (got "${positionals[0]}")`);
    return await command.run(values as Record<string, string | boolean | undefined>, positionals);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`glidepath ${first}: ${(e as Error).message}\nUsage: ${command.usage}`);
      return 2;
    }
    if (e instanceof ValidationError) {
      err(`glidepath ${first}: ${e.code}: ${e.message}`);
      return 1;
    }
    if (e instanceof GlidepathError) {
      err(`glidepath ${first}: ${e.code}: ${e.message}`);
      return 1;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      err(`glidepath ${first}: cannot listen: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The data plane may leave keep-alive timers behind on a forced path; exit explicitly.
    if (code !== 0 || process.argv[2] === 'serve') setImmediate(() => process.exit(code));
  },
  (e: unknown) => {
    err(`glidepath: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
