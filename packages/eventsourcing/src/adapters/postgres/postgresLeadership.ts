import { createHash } from 'node:crypto';
import pg from 'pg';

/** Who may do a job only one process of an installation may do (the Kafka relay). */
export interface Leadership {
  /** Is this process the leader now? Tries to become it when it is not; false while another process is. */
  held(): Promise<boolean>;
  release(): Promise<void>;
}

/**
 * Leadership as a PostgreSQL session advisory lock, held on a connection of its own: the server releases it the
 * moment that connection ends (the process died, the network went), and a process whose connection failed
 * stops being the leader at its next check, before it does the job again.
 */
export class PostgresLeadership implements Leadership {
  private client: pg.Client | null = null;
  private readonly key: bigint;
  private readonly connectionString: string;

  constructor(connectionString: string, name: string) {
    this.connectionString = connectionString;
    // A stable 64-bit key from the name (advisory locks take a bigint).
    this.key = BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(`curbmap:${name}`).digest('hex').slice(0, 16)}`));
  }

  async held(): Promise<boolean> {
    try {
      if (this.client) {
        // Still ours? (The connection may have died with the lock.)
        const { rows } = await this.client.query<{ mine: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND ((classid::bigint << 32) | objid::bigint) = $1::bigint) AS mine", [String(this.key)]);
        if (rows[0]?.mine) return true;
        await this.drop();
      }
      const client = new pg.Client({ connectionString: this.connectionString });
      client.on('error', () => void this.drop());
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [String(this.key)]);
      if (rows[0]?.ok) {
        this.client = client;
        return true;
      }
      await client.end();
      return false;
    } catch {
      await this.drop();
      return false;
    }
  }

  async release(): Promise<void> {
    await this.drop();
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}
