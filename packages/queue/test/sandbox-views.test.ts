import { ManualClock, SandboxView } from '@harombe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SandboxViews } from '../src/index.js';
import { expectHarombeError, Harness, LOST_AFTER_MS, OTHER_TENANT, TENANT, useRedisContainer } from './harness.js';

const redisContainer = useRedisContainer();

describe('SandboxViews', () => {
  let h: Harness;
  let clock: ManualClock;
  let views: SandboxViews;

  beforeEach(() => {
    clock = new ManualClock();
    // A fresh prefix (queue names and keys) per test.
    h = new Harness(redisContainer.url, { clock });
    views = new SandboxViews({ directory: h.sandboxes, workers: h.workers, clock });
  });

  afterEach(async () => {
    await h.close();
  });

  it('lists the tenant’s sandboxes on live workers, as the API shows them', async () => {
    await h.heartbeat('w1');
    const plain = await h.putSandbox('w1');
    const networked = await h.putSandbox('w1', TENANT, ['pypi.org', '*.pythonhosted.org']);
    await h.putSandbox('w1', OTHER_TENANT);
    await h.putSandbox('w-never-seen');

    const listed = (await views.list(TENANT)).map((view) => SandboxView.parse(view));
    expect(listed.map((view) => view.sandbox_id).sort()).toEqual([plain, networked].sort());
    const entry = await h.sandboxes.get(networked);
    expect(listed.find((view) => view.sandbox_id === networked)).toEqual({
      sandbox_id: networked,
      language: 'python',
      worker_id: 'w1',
      network_enabled: true,
      allowed_domains: ['pypi.org', '*.pythonhosted.org'],
      created_at: new Date(entry!.created_at).toISOString(),
      expires_at: new Date(entry!.expires_at).toISOString(),
    });
    expect(listed.find((view) => view.sandbox_id === plain)).toMatchObject({
      network_enabled: false,
      allowed_domains: [],
    });
    expect(await views.list('nobody')).toEqual([]);
  });

  it('stops listing the sandboxes of a worker once it is lost', async () => {
    await h.heartbeat('w1');
    const sandboxId = await h.putSandbox('w1');
    expect((await views.list(TENANT)).map((view) => view.sandbox_id)).toEqual([sandboxId]);
    clock.advance(LOST_AFTER_MS + 1);
    expect(await views.list(TENANT)).toEqual([]);
  });

  it('finds a sandbox for its own tenant only: another tenant’s, or none, is NotFound', async () => {
    const sandboxId = await h.putSandbox('w1');
    expect(await views.owned(TENANT, sandboxId)).toMatchObject({ sandbox_id: sandboxId, tenant: TENANT });
    const foreign = await expectHarombeError(views.owned(OTHER_TENANT, sandboxId), 'NotFound');
    expect(foreign.message).toBe(`sandbox ${sandboxId} not found`);
    await expectHarombeError(views.owned(TENANT, 'sandbox-0000000000000000'), 'NotFound');
  });
});
