// The kubeconfig the simulated cluster writes for its clients (kubectl, client-node, helm): plain
// http needs `insecure-skip-tls-verify: true`, or client-node refuses to talk (KubeConfig in its src/config.ts);
// with TLS the cluster entry carries the self-signed certificate as its CA.

import { stringify } from 'yaml';

export const CONTEXT_NAME = 'glidepath-sim';

export function kubeconfigYaml(server: string, token: string | undefined, caPem?: string, namespace = 'default'): string {
  const cluster = caPem
    ? { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') }
    : { server, 'insecure-skip-tls-verify': true };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CONTEXT_NAME, cluster }],
    users: [{ name: CONTEXT_NAME, user: token ? { token } : {} }],
    contexts: [{ name: CONTEXT_NAME, context: { cluster: CONTEXT_NAME, user: CONTEXT_NAME, namespace } }],
    'current-context': CONTEXT_NAME,
    preferences: {},
  });
}
