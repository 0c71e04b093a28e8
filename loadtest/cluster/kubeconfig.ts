// The kubeconfig the simulated cluster writes for its clients (kubectl, client-node, helm): plain
// http needs `insecure-skip-tls-verify: true`, or client-node refuses to talk (research §1.2).

import { stringify } from 'yaml';

export const CONTEXT_NAME = 'glidepath-sim';

export function kubeconfigYaml(server: string, token: string | undefined, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CONTEXT_NAME, cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: CONTEXT_NAME, user: token ? { token } : {} }],
    contexts: [{ name: CONTEXT_NAME, context: { cluster: CONTEXT_NAME, user: CONTEXT_NAME, namespace } }],
    'current-context': CONTEXT_NAME,
    preferences: {},
  });
}
