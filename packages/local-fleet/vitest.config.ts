import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // `up` and `run` start real sandboxes, doctor and audit a Redis: one file at a time.
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
    // expect.poll waits up to 15 s: vitest's 1 s default is less than a few Docker or Redis round
    // trips take on a loaded two-core host.
    expect: { poll: { timeout: 15_000 } },
  },
});
