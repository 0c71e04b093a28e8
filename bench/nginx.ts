// The nginx anchor: a minimal config (one worker, upstream keep-alive done right) run from
// a temp prefix in the foreground, so the bench owns the master and, through it, the worker.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adopt, start, waitForHttp, type Child } from './children.ts';
import { descendants } from './proc.ts';
import { unusedPort } from '../testkit/wait.ts';

export const NGINX = '/usr/sbin/nginx';

export function nginxInstalled(): boolean {
  return existsSync(NGINX);
}

function config(listenPort: number, backendPort: number): string {
  return `worker_processes 1;
daemon off;
master_process on;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  upstream backend {
    server 127.0.0.1:${backendPort};
    # All three of keepalive, HTTP/1.1 and an empty Connection are needed for upstream reuse.
    keepalive 128;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${listenPort} backlog=4096;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export async function startNginx(
  tempDir: string,
  backendPort: number,
  cpu: number | undefined,
): Promise<{ child: Child; port: number; pids: () => number[] }> {
  const prefix = join(tempDir, 'nginx');
  for (const d of ['logs', 'tmp']) mkdirSync(join(prefix, d), { recursive: true });
  const port = await unusedPort();
  writeFileSync(join(prefix, 'nginx.conf'), config(port, backendPort));
  const child = start('nginx', NGINX, ['-p', `${prefix}/`, '-e', 'logs/error.log', '-c', 'nginx.conf'], { cpu });
  await waitForHttp(child, `http://127.0.0.1:${port}/`);
  // The worker is nginx's child; if the master ever dies uncleanly, we still kill it by pid.
  for (const pid of descendants(child.pid)) adopt(pid, 'nginx');
  return { child, port, pids: () => [child.pid, ...descendants(child.pid)] };
}
