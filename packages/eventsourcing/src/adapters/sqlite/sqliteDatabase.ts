import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';

/**
 * The checkpointer's thread: its own connection copies committed WAL pages into the database file (PASSIVE:
 * it never waits for, nor blocks, a reader or the writer), so no commit on the main thread pays for that I/O.
 */
const CHECKPOINTER = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path);
// Waiting here blocks nobody but this thread; a busy database is simply tried again at the next tick.
db.exec('PRAGMA busy_timeout = 200');
let checkpoint = null;
const tick = () => {
  try {
    checkpoint ??= db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    checkpoint.get();
  } catch {}
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); try { db.close(); } catch {} parentPort.close(); });
`;

/** How often (commits) the WAL's size is looked at, and the size past which this connection copies it back. */
const WAL_CHECK_EVERY = 32;
const WAL_MAX_BYTES = 64 * 1024 * 1024;
/**
 * What the WAL file is cut back to by the first commit after it starts over (journal_size_limit). Without it the
 * file keeps the size it once reached: after one catch-up past WAL_MAX_BYTES, every 32nd commit checkpointed on
 * the main thread for good, however little the WAL held (8% of the platform's time at 2,000 usage events/s).
 */
const WAL_RESET_BYTES = 16 * 1024 * 1024;

/**
 * One SQLite connection shared by the event store, the checkpoints and the read models, so a projection's
 * writes and its checkpoint commit in one transaction.
 *
 * node:sqlite is synchronous, and every write transaction runs from BEGIN to COMMIT without an await: on a
 * shared connection, code running during an await would read rows that are not committed yet (and a later
 * rollback would make them vanish after being seen). Work that needs awaits (a projection reading documents)
 * runs before the transaction and hands it a finished list of writes.
 */
export class SqliteDatabase {
  readonly db: DatabaseSync;
  readonly path: string;
  private checkpointer: Worker | null = null;
  private commits = 0;
  private walCheckpoint: StatementSync | null = null;

  constructor(path: string) {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true });
      // The file holds every organization's data and key hashes: readable by its owner only (WAL and SHM
      // files get the same mode from SQLite).
      closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
    }
    this.path = path;
    this.db = new DatabaseSync(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 5000;
      PRAGMA foreign_keys = ON;
      PRAGMA journal_size_limit = ${WAL_RESET_BYTES};
    `);
  }

  /** Runs fn inside BEGIN IMMEDIATE … COMMIT, synchronously: nothing else runs on this connection meanwhile. */
  writeTransaction<R>(fn: () => R): R {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      if (result instanceof Promise) throw new Error('a write transaction must be synchronous; do async work before it');
      this.db.exec('COMMIT');
      if (++this.commits % WAL_CHECK_EVERY === 0) this.boundWal();
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /**
   * Keeps the WAL from growing without end under writes that never pause (a projection catching up on a million
   * zones grew it to 7 GB, and every page read and write slowed with it): the WAL starts over only when a
   * checkpoint has copied all of it before the next write, and the background checkpointer, copying while this
   * connection commits, never catches up. Past WAL_MAX_BYTES this connection copies it itself, between two
   * transactions (a short pause, bounded by that size); the next write then starts the WAL over.
   */
  private boundWal(): void {
    if (this.path === ':memory:') return;
    let size = 0;
    try {
      size = statSync(`${this.path}-wal`).size;
    } catch {
      return;
    }
    if (size < WAL_MAX_BYTES) return;
    this.walCheckpoint ??= this.db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    // PASSIVE: a reader's older snapshot (an export) or the background checkpointer busy at the same moment make it
    // copy less, never wait; the next check tries again.
    this.walCheckpoint.get();
  }

  /**
   * Moves WAL checkpoints off the main thread: SQLite's automatic checkpoint runs inside the commit that crosses
   * its threshold and writes (and, at synchronous=NORMAL, fsyncs) the pages there, stalling the event loop for
   * tens of milliseconds now and then. With this, commits only append to the WAL.
   */
  startBackgroundCheckpoints(intervalMs = 500): void {
    if (this.path === ':memory:' || this.checkpointer) return;
    this.db.exec('PRAGMA wal_autocheckpoint = 0');
    const worker = new Worker(CHECKPOINTER, { eval: true, workerData: { path: this.path, intervalMs } });
    // Should the thread die, the main connection checkpoints again by itself: slower commits, never a WAL that grows for ever.
    const fallBack = () => {
      if (this.checkpointer !== worker) return; // stopped by close()
      this.checkpointer = null;
      if (this.db.isOpen) this.db.exec('PRAGMA wal_autocheckpoint = 1000');
    };
    worker.on('error', fallBack);
    worker.on('exit', fallBack);
    worker.unref();
    this.checkpointer = worker;
  }

  /** Ends the checkpointer thread and waits until it has closed its connection (before the files go away). */
  async stopBackgroundCheckpoints(): Promise<void> {
    const worker = this.checkpointer;
    if (!worker) return;
    this.checkpointer = null;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    // Waited for: the thread keeps the process alive until it has closed its connection (unref'd while running,
    // it would let a process with nothing else to do exit in the middle of this, with code 0).
    worker.ref();
    worker.postMessage('stop');
    await exited;
  }

  close(): void {
    if (this.checkpointer) {
      // Not stopped first (stopBackgroundCheckpoints): end the thread without waiting for it.
      void this.checkpointer.terminate();
      this.checkpointer = null;
    }
    if (this.db.isOpen) this.db.close();
  }
}
