import { RedisScripts } from '@harombe/queue';
import type { SlackKeys } from './slack-keys.js';

/** The Slack outbox's Redis scripts: src/commands/*.lua, copied to dist/commands by the build. */
export const SLACK_SCRIPTS = new RedisScripts(new URL('./commands/', import.meta.url));

/** See slack-enqueue-3.lua. */
export const SLACK_ENQUEUE = SLACK_SCRIPTS.define<[keys: SlackKeys], 'added' | 'queued' | 'again'>(
  'slack-enqueue',
  (keys) => [keys.outbox(), keys.outboxLeases(), keys.outboxAgain()],
);

/** See slack-claim-3.lua. */
export const SLACK_CLAIM = SLACK_SCRIPTS.define<[keys: SlackKeys], string[]>('slack-claim', (keys) => [
  keys.outbox(),
  keys.outboxLeases(),
  keys.outboxAttempts(),
]);

/** See slack-complete-4.lua. */
export const SLACK_COMPLETE = SLACK_SCRIPTS.define<[keys: SlackKeys], 'again' | 'done'>('slack-complete', (keys) => [
  keys.outbox(),
  keys.outboxLeases(),
  keys.outboxAgain(),
  keys.outboxAttempts(),
]);

/** See slack-retry-4.lua. */
export const SLACK_RETRY = SLACK_SCRIPTS.define<[keys: SlackKeys], 'ok'>('slack-retry', (keys) => [
  keys.outbox(),
  keys.outboxLeases(),
  keys.outboxAgain(),
  keys.outboxAttempts(),
]);
