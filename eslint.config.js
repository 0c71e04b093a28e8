// Lint rules, including the dependency directions between the areas of src/ enforced as import bans.
import tseslint from 'typescript-eslint';

// An area of ours at any depth: '../dataplane/x.ts' from src/rollout/ and '../../dataplane/x.ts'
// from src/rollout/actions/ alike (gitignore-style patterns, matched against the import string).
const ours = (area) => `**/${area}/**`;
const K8S = '@kubernetes/*';
const APP = '**/app.ts';
const OUR_PLANES = [ours('discovery'), ours('rollout'), ours('admin'), ours('telemetry'), ours('cli'), ours('config'), APP];
const NO_CONTROL = ['undici', 'http-proxy', 'prom-client', 'pino'];
// Each third-party package lives in as few places as possible; each area lists what it may not import.
// `types` lists groups it may still import with `import type` (erased at run time).
export const areas = [
  { name: 'core', files: ['src/core/**'], banned: [...OUR_PLANES, ours('dataplane'), ours('demo'), ...NO_CONTROL, K8S, 'yaml'] },
  { name: 'dataplane', files: ['src/dataplane/**'], banned: [...OUR_PLANES, 'pino', 'prom-client', K8S] },
  {
    name: 'discovery',
    files: ['src/discovery/**'],
    ignores: ['src/discovery/kubernetes/**', 'src/discovery/kubernetes*.ts'],
    banned: [ours('dataplane'), ours('rollout'), ours('admin'), ours('cli'), APP, ...NO_CONTROL, K8S],
  },
  {
    name: 'discovery/kubernetes',
    files: ['src/discovery/kubernetes/**', 'src/discovery/kubernetes*.ts'],
    banned: [ours('dataplane'), ours('rollout'), ours('admin'), ours('cli'), APP, ...NO_CONTROL],
  },
  {
    name: 'rollout',
    files: ['src/rollout/**'],
    ignores: ['src/rollout/actions/**', 'src/rollout/actions*.ts'],
    banned: [ours('dataplane'), ours('discovery'), ours('admin'), ours('cli'), APP, ...NO_CONTROL, K8S],
  },
  {
    name: 'rollout/actions',
    files: ['src/rollout/actions/**', 'src/rollout/actions*.ts'],
    banned: [ours('dataplane'), ours('admin'), ours('cli'), APP, ...NO_CONTROL],
  },
  {
    name: 'telemetry',
    files: ['src/telemetry/**'],
    banned: [ours('dataplane'), ours('discovery'), ours('rollout'), ours('admin'), ours('cli'), APP, 'undici', 'http-proxy', K8S],
  },
  { name: 'admin', files: ['src/admin/**'], banned: [ours('dataplane'), ours('cli'), APP, ...NO_CONTROL, K8S] },
  // The command line starts fast and small: config, core and the version; the app (and with it
  // the data plane) only through `await import()` when a command needs it.
  {
    name: 'cli',
    files: ['src/cli/**'],
    banned: [ours('dataplane'), ours('telemetry'), ours('admin'), ours('rollout'), APP, ...NO_CONTROL, K8S],
    types: [ours('admin'), ours('rollout'), APP],
  },
  { name: 'config', files: ['src/config/**', 'src/demo/**'], banned: [ours('dataplane'), ...NO_CONTROL, K8S] },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**', '.tools/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  ...areas.map(({ name, files, ignores, banned, types = [] }) => ({
    files,
    ...(ignores ? { ignores } : {}),
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: banned.map((group) => ({
            group: [group],
            message: `import direction: ${name} (${files.join(', ')}) may not import ${group}${types.includes(group) ? ' except with `import type`' : ''}.`,
            ...(types.includes(group) ? { allowTypeImports: true } : {}),
          })),
        },
      ],
    },
  })),
  // The test kit is imported by test/, loadtest/, bench/ and scripts/, never the other way round:
  // a regex, so that an import from any depth (../../../test/x.ts) is caught.
  {
    files: ['testkit/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)(test|loadtest|bench|scripts)/',
              message: 'testkit/ is imported by test/, loadtest/, bench/ and scripts/; it may not import from them',
            },
          ],
        },
      ],
    },
  },
  { files: ['test/**', 'testkit/**', 'loadtest/**', 'bench/**', 'scripts/**'], rules: { 'no-console': 'off' } },
);
