/**
 * Zero-filled room at the end of LMDB's data file, kept ahead of the log's growth.
 *
 * Why: the log appends, so every group commit writes pages past the end of data.mdb. An
 * fdatasync that also has to make a new file size durable commits the file system's journal
 * too; on ext4 here that made a 4 KiB fdatasync 0.47 ms instead of 0.19 ms, and an LMDB commit
 * of 40 records 0.70 ms instead of 0.48 ms (p50). Pages written into
 * blocks that already exist and hold zeros are plain overwrites. So, under the `fsync` policy,
 * the writer keeps `aheadBytes` of real zeros (written and synced, not `fallocate`d: unwritten
 * extents still change metadata when first written) past the end of the file.
 *
 * Invariants:
 * - Zeros are written only at offsets at or past the file's current size, read inside an LMDB
 *   write transaction (the caller's), so no LMDB page lives there and no other writer (the
 *   snapshot thread) can add one meanwhile. LMDB ignores bytes past its last page: a larger
 *   file opens, maps and recovers as before, and later commits overwrite the zeros.
 * - The file never grows past `ceilingBytes` (the store's size limit) because of this.
 * - Any error (a full disk) turns the reserve off with a reason; it never fails the log: LMDB
 *   then extends the file itself, as it does without a reserve.
 */

import { closeSync, fdatasyncSync, fstatSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface FileReserveOptions {
  /** Zeroed bytes kept past the log's last page. */
  aheadBytes: number;
  /** Bytes zero-filled per step (one step per call to `fill`). */
  chunkBytes: number;
  /** The file is never extended past this. */
  ceilingBytes: number;
}

export class FileReserve {
  private fd: number;
  private fileBytes: number;
  private readonly zeros: Buffer;
  private disabledReason = '';
  private refilling = false;

  private constructor(
    fd: number,
    private readonly options: FileReserveOptions,
  ) {
    this.fd = fd;
    this.fileBytes = fstatSync(fd).size;
    this.zeros = Buffer.alloc(options.chunkBytes);
  }

  /** Opens data.mdb in `dataDir`; null (with the reason) when it cannot be opened for writing. */
  static open(
    dataDir: string,
    options: FileReserveOptions,
  ): { reserve: FileReserve } | { reason: string } {
    try {
      return { reserve: new FileReserve(openSync(join(dataDir, 'data.mdb'), 'r+'), options) };
    } catch (error) {
      return { reason: `cannot open data.mdb to reserve room: ${String(error)}` };
    }
  }

  /** Why the reserve turned itself off; '' while it works. */
  get disabled(): string {
    return this.disabledReason;
  }

  /**
   * A cheap first look, no system call: whether `wants` may be true for a log whose pages reach
   * at most `usedBytesBound` (an upper bound of the real figure).
   */
  mayWant(usedBytesBound: number): boolean {
    if (this.disabledReason !== '') return false;
    return this.refilling || this.fileBytes - usedBytesBound < this.options.aheadBytes / 2;
  }

  /**
   * Whether `fill` has work for a log whose pages reach `usedBytes`: once the zeroed room past
   * them falls under half of `aheadBytes`, until it is back to `aheadBytes` (or the ceiling).
   */
  wants(usedBytes: number): boolean {
    if (this.disabledReason !== '') return false;
    const room = this.fileBytes - usedBytes;
    if (room >= this.options.aheadBytes) this.refilling = false;
    else if (room < this.options.aheadBytes / 2) this.refilling = true;
    return this.refilling && this.fileBytes + this.options.chunkBytes <= this.options.ceilingBytes;
  }

  /**
   * One step: zero-fills `chunkBytes` at the file's current end and syncs them. The caller
   * holds LMDB's write lock (it runs this inside a write transaction). Returns the bytes added.
   */
  fill(): number {
    if (this.disabledReason !== '') return 0;
    try {
      const size = fstatSync(this.fd).size;
      if (size + this.options.chunkBytes > this.options.ceilingBytes) {
        this.fileBytes = size;
        return 0;
      }
      let written = 0;
      while (written < this.zeros.length) {
        written += writeSync(
          this.fd,
          this.zeros,
          written,
          this.zeros.length - written,
          size + written,
        );
      }
      fdatasyncSync(this.fd);
      this.fileBytes = size + written;
      return written;
    } catch (error) {
      this.disabledReason = `reserving room in data.mdb failed, left to LMDB: ${String(error)}`;
      return 0;
    }
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    if (this.disabledReason === '') this.disabledReason = 'closed';
  }
}
