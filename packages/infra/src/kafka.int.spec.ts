import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaUnavailable, startPrivateBroker, type PrivateBroker } from './kafka.ts';

// The real Apache Kafka broker from Maven Central on the local Java, never a mock.
const unavailable = kafkaUnavailable();

if (unavailable) {
  describe('Kafka broker', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  describe('a private Kafka broker (KRaft, single node)', () => {
    let broker: PrivateBroker;
    beforeAll(async () => {
      broker = await startPrivateBroker();
    }, 90_000);
    afterAll(() => broker?.stop(), 30_000);

    it('takes keyed messages in order per key and hands them to a consumer group that commits its offsets', async () => {
      const kafka = new Kafka({ clientId: 'curbmap-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'curbmap.test', numPartitions: 3 }], waitForLeaders: true });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({ topic: 'curbmap.test', messages: Array.from({ length: 30 }, (_, i) => ({ key: `stream-${i % 3}`, value: String(i) })) });
      const consumer = kafka.consumer({ groupId: 'curbmap-test-group' });
      await consumer.connect();
      await consumer.subscribe({ topic: 'curbmap.test', fromBeginning: true });
      const seen = new Map<string, number[]>();
      await new Promise<void>((resolve, reject) => {
        let count = 0;
        consumer
          .run({
            eachMessage: async ({ message }) => {
              const key = message.key!.toString();
              seen.set(key, [...(seen.get(key) ?? []), Number(message.value!.toString())]);
              // Done once this handler has returned: its offset is resolved, and committed on disconnect.
              if (++count === 30) setImmediate(resolve);
            },
          })
          .catch(reject);
      });
      await consumer.disconnect(); // commits what it consumed
      // Each key's messages arrived in the order sent (one partition per key).
      for (const [key, values] of seen) expect(values, key).toEqual([...values].sort((a, b) => a - b));
      expect([...seen.values()].flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      const offsets = await admin.fetchOffsets({ groupId: 'curbmap-test-group', topics: ['curbmap.test'] });
      // Committed: the next offset to read, per partition (-1 where no key landed).
      expect(offsets[0]!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)).toBe(30);
      await producer.disconnect();
      await admin.disconnect();
    }, 60_000);
  });
}
