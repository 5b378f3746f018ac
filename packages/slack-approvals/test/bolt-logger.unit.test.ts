import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BoltLogger } from '../src/index.js';

describe('BoltLogger', () => {
  it("writes Bolt's messages through pino with tokens and signatures redacted", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = new BoltLogger(pino({ level: 'debug' }, sink));
    logger.warn(
      'Failed to verify',
      { signature: `v0=${'a'.repeat(64)}` },
      new Error('token xoxb-123456789-abcdef rejected'),
    );
    logger.debug('app token xapp-1-A0123-4567-abcdef');
    const text = lines.join('');
    expect(text).toContain('Failed to verify');
    expect(text).toContain('[REDACTED]');
    expect(text).not.toMatch(/xoxb-123456789|xapp-1-A0123|a{64}/);
    expect(lines).toHaveLength(2);
  });
});
