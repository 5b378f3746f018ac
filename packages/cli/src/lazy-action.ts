/**
 * A command's action that loads its module when the command runs, not when `harombe` starts:
 * what the commands do needs the client, the contracts (zod) or MCP, whose loading would slow
 * every start, `--help` and usage errors included. `name` is the action's export in that module.
 */
export function lazyAction<M extends Record<K, (...args: never[]) => unknown>, K extends keyof M>(
  load: () => Promise<M>,
  name: K,
): (...args: Parameters<M[K]>) => Promise<void> {
  return async (...args) => {
    const action = (await load())[name] as (...parameters: Parameters<M[K]>) => unknown;
    await action(...args);
  };
}
