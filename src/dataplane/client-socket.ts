// Which exchanges a client connection carries now, so that one 'close' listener per connection
// (not one per request) can tell them the client went away; pipelined requests make it a list.

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

export interface ClientBound {
  readonly req: IncomingMessage;
  onClientClose(): void;
}

const kActive = Symbol('glidepath.active');
type TrackedSocket = Socket & { [kActive]?: ClientBound | ClientBound[] | null };

/** Registers an exchange on its client socket (the first one on a socket adds the listener). */
export function trackOnSocket(x: ClientBound): void {
  const socket = x.req.socket as TrackedSocket;
  const active = socket[kActive];
  if (active === undefined) {
    socket[kActive] = x;
    socket.once('close', onSocketClose);
  } else if (active === null) {
    socket[kActive] = x;
  } else {
    socket[kActive] = Array.isArray(active) ? [...active, x] : [active, x];
  }
}

export function untrackOnSocket(x: ClientBound): void {
  const socket = x.req.socket as TrackedSocket;
  const active = socket[kActive];
  if (active === x) socket[kActive] = null;
  else if (Array.isArray(active))
    socket[kActive] = active.length === 2 ? ((active[0] === x ? active[1] : active[0]) ?? null) : active.filter((e) => e !== x);
}

function onSocketClose(this: TrackedSocket): void {
  const active = this[kActive];
  this[kActive] = null;
  if (Array.isArray(active)) for (const x of active) x.onClientClose();
  else active?.onClientClose();
}
