export { default } from '../../vitest.containers.js';
