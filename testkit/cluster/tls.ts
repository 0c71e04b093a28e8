// A throwaway self-signed serving certificate for the simulated API server, made with the openssl
// command: with TLS, client-go (kubectl, helm) sends user credentials, which it never does over http.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServingCert {
  key: string;
  cert: string;
}

export async function selfSignedCert(host: string): Promise<ServingCert> {
  const dir = await mkdtemp(join(tmpdir(), 'glidepath-cluster-tls-'));
  try {
    const san = [isIP(host) ? `IP:${host}` : `DNS:${host}`, 'IP:127.0.0.1', 'DNS:localhost'].join(',');
    await new Promise<void>((resolve, reject) => {
      execFile(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '2',
          '-subj',
          '/CN=glidepath-sim',
          '-addext',
          `subjectAltName=${san}`,
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { timeout: 10_000 },
        (err, _out, stderr) => (err ? reject(new Error(`openssl failed: ${stderr || err.message}`)) : resolve()),
      );
    });
    return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
