// `npm run cluster`: runs the simulated cluster in the foreground until Ctrl-C, then stops it and
// every pod process. Prints how to point kubectl at it.

import { parseArgs } from 'node:util';
import { startCluster } from './index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    kubeconfig: { type: 'string' },
    token: { type: 'string' },
    tls: { type: 'boolean' },
    'pod-ip-prefix': { type: 'string' },
    'endpointslice-delay-ms': { type: 'string' },
    'probe-period-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(`usage: npm run cluster -- [--port P] [--kubeconfig FILE] [--host 127.0.0.1] [--token T] [--tls]
       [--pod-ip-prefix 127.0.10] [--endpointslice-delay-ms N] [--probe-period-ms N]`);
  process.exit(0);
}

const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const cluster = await startCluster({
  port: Number(values.port),
  host: values.host,
  ...(values.kubeconfig ? { kubeconfigPath: values.kubeconfig } : {}),
  ...(values.token ? { token: values.token } : {}),
  ...(values.tls ? { tls: true } : {}),
  ...(values['pod-ip-prefix'] ? { podIpPrefix: values['pod-ip-prefix'] } : {}),
  ...(values['endpointslice-delay-ms'] ? { endpointSliceDelayMs: num(values['endpointslice-delay-ms']) } : {}),
  ...(values['probe-period-ms'] ? { probePeriodMs: num(values['probe-period-ms']) } : {}),
});

console.log(`simulated Kubernetes cluster listening on ${cluster.url} (node ${cluster.nodeName})

  export KUBECONFIG=${cluster.kubeconfigPath}
  kubectl get nodes,namespaces
  kubectl create deployment web --image=demo:v1 --port=8080 --replicas=3
  kubectl expose deployment web --port=80 --target-port=8080
  kubectl get pods,rs,endpointslices -o wide

Every image runs the demo app (src/demo) on its pod's own loopback IP. Ctrl-C stops the cluster and every pod.`);

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the cluster and its pods...');
  void cluster.stop().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
