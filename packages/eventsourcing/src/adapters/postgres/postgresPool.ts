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
