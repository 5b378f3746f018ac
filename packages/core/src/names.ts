/**
 * `@harombe/core/names`: the languages and the ids' shapes, without the contracts' schemas (and
 * zod), which take a good part of a second to load. For what must start fast: the CLI checks its
 * arguments with these and loads the contracts only when a command runs.
 */
export * from './id-formats.js';
export * from './languages.js';
