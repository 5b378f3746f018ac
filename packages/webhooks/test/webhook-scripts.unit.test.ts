import { hashTag, RedisKeys } from '@harombe/queue';
import { describe, expect, it } from 'vitest';
import { WebhookKeys } from '../src/webhook-keys.js';
import {
  ADD_WEBHOOK,
  CLAIM_WEBHOOK_EVENTS,
  CREATE_DELIVERY,
  ROTATE_WEBHOOK_SECRET,
  UPDATE_DELIVERY,
  WEBHOOK_SCRIPTS,
} from '../src/webhook-scripts.js';

// The scripts' bodies are checked with every other script of the repository (packages/queue's
// redis-scripts unit test); here, that their callers pass the keys the files declare.
describe('the webhooks scripts', () => {
  const keys = new WebhookKeys(new RedisKeys('fleet'));
  const calls: [string, () => string[]][] = [
    ['create-delivery', () => CREATE_DELIVERY.keys(keys, 'dlv-1', 'acme')],
    ['update-delivery', () => UPDATE_DELIVERY.keys(keys, 'dlv-1', 'acme')],
    ['claim-webhook-events', () => CLAIM_WEBHOOK_EVENTS.keys(keys)],
    ['add-webhook', () => ADD_WEBHOOK.keys(keys, 'acme')],
    ['rotate-webhook-secret', () => ROTATE_WEBHOOK_SECRET.keys(keys, 'acme')],
  ];
  const files = WEBHOOK_SCRIPTS.sources().map(({ name }) => name);

  it('has a typed caller for every file and a file for every caller', () => {
    expect([...WEBHOOK_SCRIPTS.callers().keys()].sort()).toEqual(files);
    expect(calls.map(([name]) => name).sort()).toEqual(files);
  });

  it.each(calls)('%s: the callers pass as many keys as the file declares, all in one Cluster slot', (name, build) => {
    const built = build();
    expect(built).toHaveLength(WEBHOOK_SCRIPTS.source(name).numberOfKeys);
    expect(new Set(built.map(hashTag))).toEqual(new Set(['fleet']));
  });
});
