import { metricSample, startRedis, type RedisContainer } from '@harombe/test-fixtures';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACTIONS } from '@harombe/slack-approvals';
import { ApprovalService } from '../src/index.js';
import { alice, ApprovalFixture, bob, eventually, silentLogger } from './approval-fixture.js';

let redis: RedisContainer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

describe('approval metrics', () => {
  let f: ApprovalFixture;
  let second: ApprovalService;

  beforeEach(async () => {
    f = await ApprovalFixture.start(redis.url);
    // A second approval service on the same Redis, without Slack: each decision is counted once between them.
    second = new ApprovalService({
      config: { ...f.config, slack: { ...f.config.slack, enabled: false } },
      logger: silentLogger,
      clock: f.clock,
      intervalMs: 20,
      opsPort: 0,
      env: {},
    });
    await second.start();
  });

  afterEach(async () => {
    await second.stop();
    await f.close();
  });

  const scrape = async (service: ApprovalService): Promise<string> =>
    (await fetch(`${service.opsAddress}/metrics`)).text();
  const total = async (name: string, labels: Record<string, string>): Promise<number> =>
    metricSample(await scrape(f.service), name, labels) + metricSample(await scrape(second), name, labels);

  it('counts decisions by outcome and channel, once across instances, with the time they took', async () => {
    const viaSlack = await f.submit();
    const message = await f.requestFor(viaSlack.job_id);
    f.manualClock.advance(5_000);
    expect(
      await f.click('UBOB', ACTIONS.approve, viaSlack.approval?.approval_id as string, String(message.response.ts)),
    ).toBe(200);
    const viaApi = await f.submit();
    await f.api.jobs.decide(bob, viaApi.approval?.approval_id as string, 'deny', null);
    const cancelled = await f.submit();
    await f.api.jobs.cancel(alice, cancelled.job_id);
    const expired = await f.submit();
    f.manualClock.advance(60_000);
    await eventually(async () => (await f.api.store.get(expired.job_id))?.status === 'expired', 'the expiry');

    const decisions = 'harombe_approval_decisions_total';
    await eventually(
      async () => (await total(decisions, { outcome: 'expired', channel: 'timeout' })) === 1,
      'the expiry to be counted',
    );
    await eventually(
      async () => (await total(decisions, { outcome: 'approved', channel: 'slack' })) === 1,
      'the Slack approval to be counted',
    );
    expect(await total(decisions, { outcome: 'denied', channel: 'api' })).toBe(1);
    expect(await total(decisions, { outcome: 'cancelled', channel: 'api' })).toBe(1);
    expect(await total(decisions, { outcome: 'approved', channel: 'api' })).toBe(0);
    // Time to decision: the Slack approval came 5 s after submission.
    const seconds = 'harombe_approval_time_to_decision_seconds';
    expect(await total(`${seconds}_count`, { outcome: 'approved', channel: 'slack' })).toBe(1);
    expect(await total(`${seconds}_sum`, { outcome: 'approved', channel: 'slack' })).toBe(5);
    expect(await total(`${seconds}_sum`, { outcome: 'expired', channel: 'timeout' })).toBe(60);
    // Pending approvals by risk come from the fleet-wide gauge on the same registry.
    expect(await scrape(f.service)).toContain('harombe_approvals_pending{risk="HIGH"');
  });
});
