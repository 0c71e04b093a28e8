// Lint rules, including the dependency directions of ../shared/DESIGN.md §5 enforced as import bans.
import tseslint from 'typescript-eslint';

// Each third-party package lives in as few places as possible; each area lists what it may not import.
const K8S = '@kubernetes/*';
const OUR_PLANES = ['../discovery/*', '../rollout/*', '../admin/*', '../telemetry/*', '../cli/*', '../config/*', '../app.ts'];
const areas = [
  { files: ['src/core/**'], banned: [...OUR_PLANES, '../dataplane/*', '../demo/*', 'undici', 'pino', 'prom-client', K8S, 'http-proxy', 'yaml'] },
  { files: ['src/dataplane/**'], banned: [...OUR_PLANES, 'pino', 'prom-client', K8S] },
  { files: ['src/discovery/**'], ignores: ['src/discovery/kubernetes*', 'src/discovery/kubernetes/**'], banned: ['../dataplane/*', '../rollout/*', '../admin/*', 'undici', 'http-proxy', 'prom-client', 'pino', K8S] },
  { files: ['src/discovery/kubernetes*', 'src/discovery/kubernetes/**'], banned: ['../dataplane/*', '../rollout/*', '../admin/*', 'undici', 'http-proxy', 'prom-client', 'pino'] },
  { files: ['src/rollout/**'], ignores: ['src/rollout/actions*'], banned: ['../dataplane/*', '../discovery/*', '../admin/*', 'undici', 'http-proxy', 'prom-client', 'pino', K8S] },
  { files: ['src/rollout/actions*'], banned: ['../dataplane/*', '../admin/*', 'undici', 'http-proxy', 'prom-client', 'pino'] },
  { files: ['src/telemetry/**'], banned: ['../discovery/*', '../rollout/*', '../admin/*', 'undici', 'http-proxy', K8S] },
  { files: ['src/admin/**', 'src/config/**', 'src/cli/**', 'src/demo/**'], banned: ['undici', 'http-proxy', 'prom-client', 'pino', K8S] },
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
  ...areas.map(({ files, ignores, banned }) => ({
    files,
    ...(ignores ? { ignores } : {}),
    rules: {
      'no-restricted-imports': ['error', { patterns: banned.map((group) => ({ group: [group], message: `see ../shared/DESIGN.md §5: ${files.join(', ')} may not import ${group}` })) }],
    },
  })),
  { files: ['test/**', 'loadtest/**', 'bench/**', 'scripts/**'], rules: { 'no-console': 'off' } },
);
