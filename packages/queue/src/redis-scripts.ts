import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { RedisScript, type ScriptSource } from './redis-script.js';

/** A script file's name, as BullMQ names its commands: `<name>-<number of keys>.lua`. */
const FILE_NAME = /^([a-z][a-z0-9]*(?:-[a-z0-9]+)*)-(\d+)\.lua$/;

/**
 * The one loader of the fleet's Redis scripts. A package keeps its scripts in `src/commands`, one
 * `<name>-<number of keys>.lua` file each, which its build copies to `dist/commands` (so the same
 * URL, relative to the module, finds them in tests and once built). Every key a script touches is
 * one of its KEYS, built in TypeScript from RedisKeys by the script's caller (define()), never in
 * Lua: all of them carry the fleet's hash tag, so one call's keys share a Redis Cluster slot.
 *
 * A client gets every script of the set at once, through ioredis's defineCommand: EVALSHA, and
 * EVAL when Redis has lost its script cache (a restart).
 */
export class RedisScripts {
  private loaded: Map<string, ScriptSource> | undefined;
  private readonly defined = new Map<string, RedisScript<never[], unknown>>();

  /** `dir`: the folder of the `.lua` files, e.g. `new URL('./commands/', import.meta.url)`. */
  constructor(readonly dir: URL) {}

  /** Every script of the folder, read on first use. */
  sources(): ScriptSource[] {
    return [...this.load().values()];
  }

  source(name: string): ScriptSource {
    const source = this.load().get(name);
    if (!source) throw new Error(`Redis script ${name}: no ${name}-<number of keys>.lua in ${fileURLToPath(this.dir)}`);
    return source;
  }

  /**
   * The typed caller of the script `<name>-<n>.lua`: `keysOf` builds its n KEYS (from RedisKeys)
   * out of what the call is about; `Reply` is what the script returns.
   */
  define<Args extends unknown[], Reply>(name: string, keysOf: (...args: Args) => string[]): RedisScript<Args, Reply> {
    if (this.defined.has(name)) throw new Error(`Redis script ${name} is defined twice`);
    const script = new RedisScript<Args, Reply>(this, name, keysOf);
    this.defined.set(name, script as unknown as RedisScript<never[], unknown>);
    return script;
  }

  /** The callers define() made, by script name: what a check of the set compares with its files. */
  callers(): ReadonlyMap<string, RedisScript<never[], unknown>> {
    return this.defined;
  }

  /** Defines every script of the folder on the client (once per client): what a pipeline can then queue. */
  install(redis: Redis): void {
    const commands = redis as unknown as Record<string, unknown>;
    for (const source of this.load().values()) {
      if (typeof commands[source.command] === 'function') continue;
      redis.defineCommand(source.command, { numberOfKeys: source.numberOfKeys, lua: source.lua });
    }
  }

  private load(): Map<string, ScriptSource> {
    if (this.loaded) return this.loaded;
    const dir = fileURLToPath(this.dir);
    let files: string[];
    try {
      files = readdirSync(dir).filter((file) => file.endsWith('.lua'));
    } catch (error) {
      throw new Error(`Redis scripts: cannot read ${dir} (a build copies src/commands to dist/commands)`, {
        cause: error,
      });
    }
    const loaded = new Map<string, ScriptSource>();
    for (const file of files.sort()) {
      const match = FILE_NAME.exec(file);
      if (!match) throw new Error(`Redis script ${dir}${file}: the name must be <name>-<number of keys>.lua`);
      const [, name = '', keys = ''] = match;
      if (loaded.has(name)) throw new Error(`Redis script ${name}: two files in ${dir}`);
      const path = `${dir}${file}`;
      loaded.set(name, {
        name,
        command: `harombe${name.replace(/(?:^|-)([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())}`,
        numberOfKeys: Number(keys),
        lua: readFileSync(path, 'utf8'),
        path,
      });
    }
    this.loaded = loaded;
    return loaded;
  }
}
