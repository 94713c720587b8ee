/**
 * Temporary data directories for tests, under the OS temp folder, removed after each test.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class TempDirs {
  private readonly paths: string[] = [];

  /** A fresh, empty, existing directory. */
  make(prefix = 'wal-test-'): string {
    const path = mkdtempSync(join(tmpdir(), prefix));
    this.paths.push(path);
    return path;
  }

  /** A path inside a fresh directory that does not exist yet. */
  missing(name = 'data'): string {
    return join(this.make(), name);
  }

  removeAll(): void {
    for (const path of this.paths.splice(0)) rmSync(path, { recursive: true, force: true });
  }
}
