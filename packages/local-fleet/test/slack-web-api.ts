import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One call as the stand-in received it. */
export interface SlackCall {
  method: string;
  token: string | undefined;
}

/**
 * The two Web API methods doctor calls, on 127.0.0.1, as Slack answers them: auth.test takes the
 * bot tokens in `botTokens`, apps.connections.open the app-level tokens in `appTokens` (and
 * refuses any other kind, as Slack does). Every other method is unknown.
 */
export class SlackWebApiStandIn {
  readonly calls: SlackCall[] = [];
  readonly botTokens = new Set<string>();
  readonly appTokens = new Set<string>();

  private readonly server: Server;

  private constructor() {
    this.server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        const method = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/^\/api\//, '');
        const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
        this.calls.push({ method, token });
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(this.answer(method, token ?? '')));
      });
    });
  }

  static async start(): Promise<SlackWebApiStandIn> {
    const standIn = new SlackWebApiStandIn();
    await new Promise<void>((resolve) => standIn.server.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  /** The base URL to configure as slack.api_url. */
  get apiUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private answer(method: string, token: string): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        if (!token) return { ok: false, error: 'not_authed' };
        return this.botTokens.has(token)
          ? {
              ok: true,
              url: 'https://acme.slack.com/',
              team: 'Acme',
              user: 'harombe',
              team_id: 'T1',
              user_id: 'UBOT',
              bot_id: 'BBOT',
            }
          : { ok: false, error: 'invalid_auth' };
      case 'apps.connections.open':
        if (!token.startsWith('xapp-')) return { ok: false, error: 'not_allowed_token_type' };
        return this.appTokens.has(token)
          ? { ok: true, url: 'wss://wss-primary.slack.com/link/?ticket=stand-in' }
          : { ok: false, error: 'invalid_auth' };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}
