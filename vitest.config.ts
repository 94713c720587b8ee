import { defineConfig } from 'vitest/config';

// Tests sit beside the code. Worker-thread tests load the compiled `dist/` build (npm test
// builds first), so the threads run exactly the code that ships.
export default defineConfig({
  test: {
    include: ['{engine,protocol,edge,wal,cluster,bench,loadtest,tools}/**/*.test.ts'],
    exclude: ['node_modules', 'dist', 'data'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
