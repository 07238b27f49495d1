import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/**
 * One SQLite connection shared by the event store, the checkpoints and the read models, so a projection's
 * writes and its checkpoint commit in one transaction. node:sqlite is synchronous; write transactions are
 * serialised through a promise queue because a projection's transaction spans awaits.
 */
export class SqliteDatabase {
  readonly db: DatabaseSync;
  readonly path: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.path = path;
    this.db = new DatabaseSync(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 5000;
      PRAGMA foreign_keys = ON;
    `);
  }

  /** Runs fn inside BEGIN IMMEDIATE … COMMIT, after every earlier write transaction has finished. */
  writeTransaction<R>(fn: () => Promise<R> | R): Promise<R> {
    const run = async (): Promise<R> => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn();
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        this.db.exec('ROLLBACK');
        throw err;
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
