import type { ChainableCommander, Redis } from 'ioredis';

/** One Lua script, read from its file. */
export interface ScriptSource {
  /** The file's name less its key count: `transition-job`. */
  name: string;
  /** The command defined on a client: `harombe` and the name in camel case, `harombeTransitionJob`. */
  command: string;
  /** How many of its arguments are keys (KEYS), the rest being ARGV: the number its file's name ends with. */
  numberOfKeys: number;
  lua: string;
  /** The file it was read from. */
  path: string;
}

export type ScriptArgument = string | number;

/** What a script's caller needs of its set (RedisScripts). */
export interface ScriptSet {
  source(name: string): ScriptSource;
  install(redis: Redis): void;
}

/** One script of a RedisScripts set, with the keys it is called with and the reply it gives. */
export class RedisScript<Args extends unknown[], Reply> {
  constructor(
    private readonly scripts: ScriptSet,
    readonly name: string,
    private readonly keysOf: (...args: Args) => string[],
  ) {}

  get source(): ScriptSource {
    return this.scripts.source(this.name);
  }

  /**
   * The script's KEYS for a call about `args`. Throws unless they are as many as its file declares
   * and share one hash tag (one Redis Cluster slot).
   */
  keys(...args: Args): string[] {
    const keys = this.keysOf(...args);
    const { numberOfKeys } = this.source;
    if (keys.length !== numberOfKeys)
      throw new Error(`Redis script ${this.name}: ${keys.length} keys for a script that declares ${numberOfKeys}`);
    const tags = new Set(keys.map(hashTag));
    if (tags.size > 1) throw new Error(`Redis script ${this.name}: keys of several slots (${keys.join(', ')})`);
    return keys;
  }

  /** Runs the script on `redis`: its keys built from `keyArgs`, then `argv`. */
  async run(redis: Redis, keyArgs: Args, argv: readonly ScriptArgument[]): Promise<Reply> {
    const keys = this.keys(...keyArgs);
    const commands = redis as unknown as Record<string, ((...args: ScriptArgument[]) => Promise<Reply>) | undefined>;
    if (typeof commands[this.source.command] !== 'function') this.scripts.install(redis);
    const command = commands[this.source.command] as (...args: ScriptArgument[]) => Promise<Reply>;
    return command.call(redis, ...keys, ...argv);
  }

  /**
   * Queues the script on a pipeline or MULTI of a client its set is installed on (install() before
   * the pipeline is made): its reply comes with exec().
   */
  queue(pipeline: ChainableCommander, keyArgs: Args, argv: readonly ScriptArgument[]): void {
    const command = (pipeline as unknown as Record<string, ((...args: ScriptArgument[]) => unknown) | undefined>)[
      this.source.command
    ];
    if (!command) throw new Error(`Redis script ${this.name}: not installed on the pipeline's client`);
    command.call(pipeline, ...this.keys(...keyArgs), ...argv);
  }
}

/** What Redis Cluster hashes a key by: the first non-empty `{...}` in it, else the whole key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}
