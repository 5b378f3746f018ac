import { defineConfig } from 'vitest/config';

/**
 * Vitest settings of every package whose tests start real containers (Redis through
 * testcontainers): one file at a time on a small machine, and time for images to start.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
