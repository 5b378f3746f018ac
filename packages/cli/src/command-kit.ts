/**
 * `@harombe/cli/command-kit`: what a command's definition needs, light to load (commander, the
 * ids' shapes): argument parsers and lazyAction. The fleet commands of @harombe/local-fleet are
 * defined with it, so that `harombe` starts fast with them too.
 */
export * from './cli-options.js';
export * from './lazy-action.js';
