import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from '../src/index.js';

/** A logger writing into an array, one entry per line written. */
function capture(bindings: Record<string, unknown> = {}): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger('api', bindings, sink) };
}

describe('createLogger', () => {
  it('writes one JSON object per line, carrying the service, its bindings and the job fields given', () => {
    const { lines, logger } = capture({ worker_id: 'w-1' });
    logger.info({ job_id: 'job-1', batch_id: 'batch-1', tenant: 'acme' }, 'job started');
    logger.child({ job_id: 'job-2' }).warn('job finished');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      service: 'api',
      worker_id: 'w-1',
      job_id: 'job-1',
      batch_id: 'batch-1',
      tenant: 'acme',
      msg: 'job started',
    });
    expect(JSON.parse(lines[1] as string)).toMatchObject({
      service: 'api',
      worker_id: 'w-1',
      job_id: 'job-2',
      msg: 'job finished',
    });
  });

  it('redacts API keys, tokens, passwords and authorization headers, at the top level and one level down', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        api_key: 'test-key-alice-0123456789abcdef',
        token: 'xoxb-123-456-secret',
        key: { apiKey: 'sk-nested', signing_secret: 'slack-signing' },
        config: { password: 'hunter2' },
        headers: { authorization: 'Bearer test-key-bob' },
        req: { headers: { authorization: 'Bearer test-key-carol', cookie: 'session=abc' } },
        job_id: 'job-1',
      },
      'request',
    );
    const line = lines[0] as string;
    for (const secret of [
      'test-key-alice',
      'xoxb-123',
      'sk-nested',
      'slack-signing',
      'hunter2',
      'test-key-bob',
      'test-key-carol',
      'session=abc',
    ]) {
      expect(line).not.toContain(secret);
    }
    expect(JSON.parse(line)).toMatchObject({
      api_key: '[REDACTED]',
      token: '[REDACTED]',
      key: { apiKey: '[REDACTED]', signing_secret: '[REDACTED]' },
      config: { password: '[REDACTED]' },
      headers: { authorization: '[REDACTED]' },
      req: { headers: { authorization: '[REDACTED]', cookie: '[REDACTED]' } },
      job_id: 'job-1',
    });
  });
});

describe('redactUrl', () => {
  it("hides a Redis URL's credentials and keeps the rest", () => {
    expect(redactUrl('redis://:s3cret@redis:6379/0')).toBe('redis://[REDACTED]@redis:6379/0');
    expect(redactUrl('redis://user:s3cret@redis.internal:6379')).toBe('redis://[REDACTED]@redis.internal:6379');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
