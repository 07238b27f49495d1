import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counted, testRegistry } from '@curbmap/testing';
import { kafkaUnavailable, startPrivateBroker, type PrivateBroker } from '@curbmap/infra';
import { createDatabase, postgresUnavailable, startPrivateCluster, type PrivateCluster } from '@curbmap/infra';
import { PostgresEventStore } from '../postgres/postgresEventStore.ts';
import { PostgresLeadership } from '../postgres/postgresLeadership.ts';
import { PostgresReadStore } from '../postgres/postgresReadStore.ts';
import { KafkaRelay } from './kafkaRelay.ts';

const unavailable = postgresUnavailable() ?? kafkaUnavailable();

if (unavailable) {
  describe('one relay at a time', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  describe('one relay at a time (PostgreSQL advisory lock, real broker)', () => {
    let cluster: PrivateCluster;
    let broker: PrivateBroker;
    beforeAll(async () => {
      [cluster, broker] = await Promise.all([startPrivateCluster(), startPrivateBroker()]);
    }, 120_000);
    afterAll(async () => {
      await broker?.stop();
      await cluster?.stop();
    }, 60_000);

    it('two gateways each start a relay: one publishes; when it stops, the other takes over from its checkpoint; the log arrives in order, nothing skipped', async () => {
      const url = (await createDatabase(cluster.url)).url;
      const store = await PostgresEventStore.open(url, testRegistry());
      const checkpoints = await PostgresReadStore.open(url);
      const kafka = new Kafka({ clientId: 'leadership-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
      const category = `lead${randomBytes(3).toString('hex')}`;
      const append = async (from: number, n: number) => {
        for (let i = from; i < from + n; i += 10) await store.append(`${category}-${(i / 10) % 4}`, Array.from({ length: 10 }, (_, k) => counted(i + k)), { expectedVersion: 'any' });
      };
      const relay = (name: string) => new KafkaRelay({ store, checkpoints, kafka, idleMs: 10, batchSize: 50, leadership: new PostgresLeadership(url, 'kafka-relay'), name: 'kafka-relay' });
      const [a, b] = [relay('a'), relay('b')];
      try {
        await append(0, 500);
        await a.start();
        await expect.poll(() => a.count, { timeout: 20_000 }).toBeGreaterThanOrEqual(500);
        await b.start();
        await append(500, 500);
        await expect.poll(() => a.count, { timeout: 20_000 }).toBeGreaterThanOrEqual(1000);
        expect(b.count).toBe(0); // the lock is a's
        await a.stop(); // releases it
        await append(1000, 500);
        await expect.poll(() => b.count, { timeout: 20_000 }).toBeGreaterThanOrEqual(500);

        // Every event once per partition in log order (a resend would be older than what came before it).
        const consumer = kafka.consumer({ groupId: `check-${category}` });
        await consumer.connect();
        await consumer.subscribe({ topics: [`curbmap.${category}`], fromBeginning: true });
        const seen = new Map<number, string[]>();
        await consumer.run({ eachMessage: async ({ partition, message }) => void seen.set(partition, [...(seen.get(partition) ?? []), (JSON.parse(message.value!.toString()) as { globalPosition: string }).globalPosition]) });
        await expect.poll(() => [...seen.values()].reduce((n, l) => n + l.length, 0), { timeout: 20_000 }).toBe(1500);
        await consumer.disconnect();
        for (const positions of seen.values()) expect(positions.every((p, i) => i === 0 || store.compare(positions[i - 1]!, p) < 0)).toBe(true);
      } finally {
        await a.stop();
        await b.stop();
        await store.close();
        await checkpoints.close();
      }
    }, 90_000);
  });
}
