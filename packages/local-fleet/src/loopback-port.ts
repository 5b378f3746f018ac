import { createServer } from 'node:net';

/**
 * A loopback port free now (bound, then released), for a service started next. Another process
 * could take it in between; on a development host that is rare, and the service then fails to
 * start saying so.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port was assigned')),
      );
    });
  });
}
