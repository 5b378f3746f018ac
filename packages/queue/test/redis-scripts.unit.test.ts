import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  ADMIT_SUBMISSION,
  APPEND_AUDIT,
  APPEND_OUTPUT,
  CREATE_BATCH,
  CREATE_JOB,
  LAPSE_QUOTA,
  PLACE_JOB,
  QUEUE_SCRIPTS,
  RESERVE_SANDBOX,
  TRANSITION_JOB,
  type JobRouting,
} from '../src/queue-scripts.js';
import { hashTag, RedisKeys, RedisScripts } from '../src/index.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Every workspace's Lua scripts: a script added to any package or service is checked too. */
function scriptFiles(): { path: string; file: string }[] {
  const out: { path: string; file: string }[] = [];
  for (const group of ['packages', 'services']) {
    for (const workspace of readdirSync(join(REPO, group))) {
      const dir = join(REPO, group, workspace, 'src', 'commands');
      if (!existsSync(dir)) continue;
      for (const file of readdirSync(dir)) if (file.endsWith('.lua')) out.push({ path: join(dir, file), file });
    }
  }
  return out;
}

/** The TypeScript sources (src) of every package and service. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) out.push(path);
    }
  };
  for (const group of ['packages', 'services'])
    for (const workspace of readdirSync(join(REPO, group))) {
      const src = join(REPO, group, workspace, 'src');
      if (existsSync(src)) walk(src);
    }
  return out;
}

/**
 * Commands the scripts may call, by where their keys are: the first argument (every one of
 * these takes exactly one key), or none (PUBLISH's channel is not a key). A command missing here
 * fails the check: add it with its key positions.
 */
const ONE_KEY = new Set(
  'GET SET DEL EXISTS EXPIRE PEXPIRE TTL PTTL HGET HSET HSETNX HMGET HGETALL HINCRBY HDEL HLEN HEXISTS ZADD ZREM ZRANGE ZRANGEBYSCORE ZREMRANGEBYSCORE ZCARD ZCOUNT ZSCORE SADD SREM SCARD SISMEMBER SMEMBERS RPUSH LPUSH LRANGE LINDEX LTRIM LLEN XADD XLEN'.split(
    ' ',
  ),
);
const NO_KEY = new Set(['PUBLISH']);

/** The script without its comments (string literals kept as they are). */
function code(lua: string): string {
  let out = '';
  for (let i = 0; i < lua.length;) {
    if (lua.startsWith('--[[', i)) {
      const end = lua.indexOf(']]', i + 4);
      i = end < 0 ? lua.length : end + 2;
    } else if (lua.startsWith('--', i)) {
      const end = lua.indexOf('\n', i);
      i = end < 0 ? lua.length : end;
    } else if (lua[i] === "'" || lua[i] === '"') {
      let j = i + 1;
      while (j < lua.length && lua[j] !== lua[i]) j += lua[j] === '\\' ? 2 : 1;
      out += lua.slice(i, j + 1);
      i = j + 1;
    } else {
      out += lua[i];
      i += 1;
    }
  }
  return out;
}

/** The top-level arguments of the call whose `(` is at `open`. */
function callArguments(source: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = open + 1; i < source.length; i += 1) {
    const c = source[i] as string;
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === '\\' ? 2 : 1;
      current += source.slice(i, j + 1);
      i = j;
      continue;
    }
    if ('([{'.includes(c)) depth += 1;
    if (')]}'.includes(c)) {
      if (depth === 0) {
        if (current.trim()) args.push(current.trim());
        return args;
      }
      depth -= 1;
    }
    if (c === ',' && depth === 0) {
      args.push(current.trim());
      current = '';
    } else current += c;
  }
  throw new Error('unbalanced redis.call');
}

/** `KEYS[<index>]` and nothing else: the index may be computed (`KEYS[scope[2]]`), the key not. */
function oneOfKeys(arg: string): boolean {
  if (!arg.startsWith('KEYS[') || !arg.endsWith(']')) return false;
  let depth = 0;
  for (let i = 4; i < arg.length; i += 1) {
    if (arg[i] === '[') depth += 1;
    if (arg[i] === ']') depth -= 1;
    if (depth === 0) return i === arg.length - 1 && !arg.includes('..');
  }
  return false;
}

/**
 * Why a script's keys are not what it declares, or are built in Lua: every key argument must be
 * one of KEYS (directly, or through a local set once to `KEYS[n]`), never a string made from ARGV,
 * a hash tag or another key.
 */
function keyProblems(lua: string, numberOfKeys: number): string[] {
  const source = code(lua);
  const problems: string[] = [];
  const aliases = new Set<string>();
  for (const [, name] of source.matchAll(/\blocal\s+([A-Za-z_]\w*)\s*=\s*KEYS\[\d+\]\s*$/gm)) {
    const assignments = source.match(new RegExp(`\\b${name}\\s*=(?!=)`, 'g')) ?? [];
    if (assignments.length === 1) aliases.add(name as string);
  }
  const isKey = (arg: string): boolean => aliases.has(arg) || oneOfKeys(arg);
  for (const call of source.matchAll(/\bredis\.p?call\s*\(/g)) {
    const [command, first] = callArguments(source, call.index + call[0].length - 1);
    const name = /^'([A-Za-z]+)'$|^"([A-Za-z]+)"$/.exec(command ?? '');
    const upper = (name?.[1] ?? name?.[2] ?? '').toUpperCase();
    if (!name) problems.push(`a command that is not a literal: ${command}`);
    else if (NO_KEY.has(upper)) continue;
    else if (!ONE_KEY.has(upper)) problems.push(`${upper}: not a command this check knows the keys of`);
    else if (!first || !isKey(first)) problems.push(`${upper} on ${first}: a key that is not one of KEYS`);
  }
  if (/#KEYS\b/.test(source)) problems.push('#KEYS: the file name declares how many keys there are');
  if (/KEYS\[[^\]]*\]\s*\.\.|\.\.\s*KEYS\[/.test(source)) problems.push('a string built from one of KEYS');
  const literal = [...source.matchAll(/KEYS\[(\d+)\]/g)].map(([, n]) => Number(n));
  for (const n of literal) if (n < 1 || n > numberOfKeys) problems.push(`KEYS[${n}] of ${numberOfKeys} declared`);
  // With computed indexes (KEYS[i]) the callers' check below is what counts the keys.
  const computed = /KEYS\[(?!\d+\])/.test(source);
  if (!computed)
    for (let n = 1; n <= numberOfKeys; n += 1)
      if (!literal.includes(n)) problems.push(`KEYS[${n}] declared, never used`);
  return problems;
}

describe('every Redis script of the repository', () => {
  const files = scriptFiles();

  it('finds the scripts of the queue, the webhooks and the Slack outbox', () => {
    const dirs = new Set(files.map(({ path }) => path.split('/src/commands/')[0]?.split('/').at(-1)));
    expect([...dirs]).toEqual(expect.arrayContaining(['queue', 'slack-approvals', 'webhooks']));
  });

  it('gives each script a name of its own: one client holds the commands of every package', () => {
    const names = files.map(({ file }) => file.replace(/-\d+\.lua$/, ''));
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it.each(files.map(({ path, file }) => [file, path]))(
    '%s declares its keys in its name and touches no other key',
    (file, path) => {
      const match = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*-(\d+)\.lua$/.exec(file);
      expect(match, 'the name must be <name>-<number of keys>.lua').not.toBeNull();
      expect(keyProblems(readFileSync(path, 'utf8'), Number(match?.[1]))).toEqual([]);
    },
  );

  it('no TypeScript source holds Lua, and only the loader defines commands', () => {
    const offenders = sourceFiles().filter((path) => {
      const text = readFileSync(path, 'utf8');
      return /redis\.p?call\s*\(/.test(text) || (/defineCommand\(/.test(text) && !path.endsWith('/redis-scripts.ts'));
    });
    expect(offenders.map((path) => path.slice(REPO.length))).toEqual([]);
  });
});

describe('the key check', () => {
  it('refuses keys built in Lua from an ARGV hash tag, from another key, or under a computed name', () => {
    const problems = (lua: string, keys = 0): string[] => keyProblems(lua, keys);
    expect(problems(`local tag = ARGV[1]\nredis.call('ZADD', tag .. ':index:queued', 1, 'x')`)).toHaveLength(1);
    expect(problems(`redis.call('HGET', ARGV[1] .. ':job:' .. ARGV[2], 'f')`)).toHaveLength(1);
    expect(problems(`redis.call('SET', ARGV[1], 'x')`)).toHaveLength(1);
    expect(problems(`redis.call('HSET', KEYS[1] .. ':counts', 'a', 1)`, 1)).toHaveLength(2);
    expect(problems(`local q = KEYS[1]\nq = q .. ':key'\nredis.call('HSET', q, 'a', 1)`)).not.toEqual([]);
    expect(problems(`local cmd = 'GET'\nredis.call(cmd, KEYS[1])`, 1)).toHaveLength(1);
    expect(problems(`redis.call('GET', KEYS[1 .. ARGV[1]])`)).toHaveLength(1);
    expect(problems(`redis.call('GET', KEYS[1] .. KEYS[2])`, 2)).toHaveLength(2);
    expect(problems(`redis.call('RENAME', KEYS[1], ARGV[1])`, 1)).toHaveLength(1);
  });

  it('refuses a script that uses more keys than it declares, or declares one it never uses', () => {
    expect(keyProblems(`redis.call('GET', KEYS[2])`, 1)).toEqual([
      'KEYS[2] of 1 declared',
      'KEYS[1] declared, never used',
    ]);
    expect(keyProblems(`redis.call('GET', KEYS[1])`, 2)).toEqual(['KEYS[2] declared, never used']);
    expect(keyProblems(`for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end`, 2)).toHaveLength(1);
  });

  it('accepts keys from KEYS, an alias of one, a channel from ARGV, and calls in comments', () => {
    const lua = `-- redis.call('GET', ARGV[1] .. ':x')
local job = KEYS[1]
redis.call('HSET', job, 'a', ARGV[1] .. ':not a key')
for _, i in ipairs({1, 2}) do redis.call('ZREM', KEYS[i], ARGV[2]) end
local index = {pending = 2}
redis.call('ZADD', KEYS[index[ARGV[4]]], 1, ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2] .. ' ' .. ARGV[1])`;
    expect(keyProblems(lua, 2)).toEqual([]);
  });
});

describe('the queue scripts', () => {
  const full: JobRouting = {
    job_id: 'job-1',
    tenant: 'acme',
    submitted_by: 'ci-bot',
    batch_id: 'batch-1',
    approval_id: 'appr-1',
    idempotency_ref: new RedisKeys('fleet').idempotency('acme', 'k'),
  };
  const bare: JobRouting = { ...full, batch_id: '', approval_id: '', idempotency_ref: '' };
  const keys = new RedisKeys('fleet');
  const calls: [string, () => string[]][] = [
    ['create-job', () => CREATE_JOB.keys(keys, full, keys.idempotency('acme', 'k'), 'job-0')],
    ['create-job', () => CREATE_JOB.keys(keys, bare, keys.unused(), '')],
    ['transition-job', () => TRANSITION_JOB.keys(keys, full)],
    ['transition-job', () => TRANSITION_JOB.keys(keys, bare)],
    ['place-job', () => PLACE_JOB.keys(keys, 'job-1')],
    ['append-output', () => APPEND_OUTPUT.keys(keys, 'job-1')],
    ['create-batch', () => CREATE_BATCH.keys(keys, 'batch-1', keys.idempotency('acme', 'batch:k'), 'batch-0')],
    ['append-audit', () => APPEND_AUDIT.keys(keys)],
    ['reserve-sandbox', () => RESERVE_SANDBOX.keys(keys, 'acme')],
    ['admit-submission', () => ADMIT_SUBMISSION.keys(keys, 'acme', 'ci-bot')],
    ['lapse-quota', () => LAPSE_QUOTA.keys(keys, 'acme', 'ci-bot')],
  ];

  it('has a typed caller for every file and a file for every caller', () => {
    expect([...QUEUE_SCRIPTS.callers().keys()].sort()).toEqual(QUEUE_SCRIPTS.sources().map(({ name }) => name));
    expect([...new Set(calls.map(([name]) => name))].sort()).toEqual(QUEUE_SCRIPTS.sources().map(({ name }) => name));
  });

  it.each(calls.map(([name, build], i) => [`${name} (${i})`, name, build] as const))(
    '%s: the callers pass as many keys as the file declares, all in one Cluster slot',
    (_, name, build) => {
      const built = build();
      expect(built).toHaveLength(QUEUE_SCRIPTS.source(name).numberOfKeys);
      expect(new Set(built.map(hashTag))).toEqual(new Set(['fleet']));
    },
  );
});

describe('RedisScripts', () => {
  it('names each command after its file and reads the key count from the name', () => {
    const source = QUEUE_SCRIPTS.source('transition-job');
    expect(source).toMatchObject({ command: 'harombeTransitionJob', numberOfKeys: 17 });
    expect(source.lua).toContain("redis.call('HGET', KEYS[1], 'status')");
  });

  it('refuses a call with another number of keys than its file declares, or keys of several slots', async () => {
    const scripts = new RedisScripts(QUEUE_SCRIPTS.dir);
    const wrongCount = scripts.define<[keys: RedisKeys], number>('place-job', (keys) => [keys.job('a'), keys.job('b')]);
    const twoSlots = scripts.define<[], number>('append-output', () => ['{a}:job:1', '{b}:events:job:1']);
    // Never connected: the call is refused before anything is sent.
    const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
    await expect(wrongCount.run(redis, [new RedisKeys()], ['w'])).rejects.toThrow(
      'Redis script place-job: 2 keys for a script that declares 1',
    );
    await expect(twoSlots.run(redis, [], ['w'])).rejects.toThrow('keys of several slots');
    expect(redis.status).toBe('wait');
    redis.disconnect();
  });

  it('says where it looked when a folder of scripts is missing (a build that did not copy them)', () => {
    const scripts = new RedisScripts(new URL('./no-such-commands/', import.meta.url));
    expect(() => scripts.source('x')).toThrow(/cannot read .*no-such-commands.*copies src\/commands to dist\/commands/);
  });

  it('refuses a caller of a script that has no file', () => {
    const scripts = new RedisScripts(QUEUE_SCRIPTS.dir);
    const missing = scripts.define<[], number>('no-such-script', () => []);
    expect(() => missing.keys()).toThrow('no no-such-script-<number of keys>.lua');
  });
});
