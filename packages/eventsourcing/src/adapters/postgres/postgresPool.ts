import pg from 'pg';

/**
 * A pool that survives the server going away. An idle connection the server ends (a restart, an operator) is
 * dropped by the pool and the next query reconnects. A connection cut while checked out fails its query and also
 * emits 'error' on its client, which pg-pool leaves to the borrower: unheard, that event ends the process (every
 * service died with PostgreSQL in the distributed soak). Each client hears it from its first connect; the pool
 * does not take a broken client back.
 */
export function openPool(connectionString: string): pg.Pool {
  const pool = new pg.Pool({ connectionString, max: 10 });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => void client.on('error', () => undefined));
  return pool;
}

/**
 * A pool made ready by `prepare` (its schema), or ended when that fails: its idle connections would keep the
 * process alive after a start that failed.
 */
export async function openPreparedPool(connectionString: string, prepare: (pool: pg.Pool) => Promise<unknown>): Promise<pg.Pool> {
  const pool = openPool(connectionString);
  try {
    await prepare(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return pool;
}

/** The advisory lock every schema change of ours takes (an arbitrary constant, "curb" in ASCII). */
const SCHEMA_LOCK = 0x63757262;

/**
 * Runs DDL in a transaction holding one advisory lock: `CREATE TABLE IF NOT EXISTS` is not safe against itself, and
 * two processes of a service starting together each made the same table (one failed on pg_type's unique index).
 */
export async function changeSchema(pool: pg.Pool, ddl: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    await client.query(ddl);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
