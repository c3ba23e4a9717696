/** At most `max` open connections per client address; one more is closed at once. */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

export function capConnections(server: EventEmitter, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress ?? '?';
    const n = (open.get(addr) ?? 0) + 1;
    if (n > max) return void socket.destroy();
    open.set(addr, n);
    socket.once('close', () => {
      const left = (open.get(addr) ?? 1) - 1;
      if (left <= 0) open.delete(addr);
      else open.set(addr, left);
    });
  });
}
