import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * A client that asks before sending a large body (Expect: 100-continue, as curl does) hears
 * `refuse`'s answer at once when the announced body is larger than `bodyLimit`, instead of
 * sending megabytes that would be refused. Any other request is told to go on, as Node would.
 * A client that sends a too-large body without asking may find the connection closed under it.
 */
export function refuseOversizedBodiesEarly(
  server: Server,
  bodyLimit: number,
  refuse: (response: ServerResponse, request: IncomingMessage) => void,
): void {
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (Number(request.headers['content-length'] ?? 0) > bodyLimit) {
      // The body is never read: the connection cannot carry another request.
      response.setHeader('connection', 'close');
      refuse(response, request);
      return;
    }
    response.writeContinue();
    server.emit('request', request, response);
  });
}
