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
    // expect.poll waits up to 15 s: vitest's 1 s default is less than a few Docker or Redis round
    // trips take on a loaded two-core host.
    expect: { poll: { timeout: 15_000 } },
  },
});
