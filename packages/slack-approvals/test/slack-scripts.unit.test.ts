import { hashTag, RedisKeys } from '@harombe/queue';
import { describe, expect, it } from 'vitest';
import { SlackKeys } from '../src/slack-keys.js';
import { SLACK_CLAIM, SLACK_COMPLETE, SLACK_ENQUEUE, SLACK_RETRY, SLACK_SCRIPTS } from '../src/slack-scripts.js';

// The scripts' bodies are checked with every other script of the repository (packages/queue's
// redis-scripts unit test); here, that their callers pass the keys the files declare.
describe('the Slack outbox scripts', () => {
  const keys = new SlackKeys(new RedisKeys('fleet'));
  const calls: [string, () => string[]][] = [
    ['slack-enqueue', () => SLACK_ENQUEUE.keys(keys)],
    ['slack-claim', () => SLACK_CLAIM.keys(keys)],
    ['slack-complete', () => SLACK_COMPLETE.keys(keys)],
    ['slack-retry', () => SLACK_RETRY.keys(keys)],
  ];
  const files = SLACK_SCRIPTS.sources().map(({ name }) => name);

  it('has a typed caller for every file and a file for every caller', () => {
    expect([...SLACK_SCRIPTS.callers().keys()].sort()).toEqual(files);
    expect(calls.map(([name]) => name).sort()).toEqual(files);
  });

  it.each(calls)('%s: the callers pass as many keys as the file declares, all in one Cluster slot', (name, build) => {
    const built = build();
    expect(built).toHaveLength(SLACK_SCRIPTS.source(name).numberOfKeys);
    expect(new Set(built.map(hashTag))).toEqual(new Set(['fleet']));
  });
});
