import { defineConfig } from 'vitest/config';

// `npm run test:agents`: the real Claude Code and Gemini CLI (installed by test/agents/install.sh)
// run under `nono run` in tmux. Separate from `npm test` because they need those packages and
// tmux, and take about a minute each.
export default defineConfig({
  test: {
    include: ['test/agents/**/*.e2e.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // The test files skip themselves unless this is set, so that the plain `npm test` (whose
    // include also matches them) does not run them.
    env: { NONO_AGENT_E2E: '1' },
    // A real agent starts in several seconds and each step waits for its screen.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One agent at a time: two full-screen agents plus their sandboxes on a small CI machine make
    // the screen waits flaky.
    fileParallelism: false,
  },
});
