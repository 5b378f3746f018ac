export * from './commands/index.js';
