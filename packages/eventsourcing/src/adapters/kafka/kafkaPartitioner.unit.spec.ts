import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { rememberingPartitioner } from './kafkaPartitioner.ts';

const metadata = (count: number): PartitionMetadata[] =>
  Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], offlineReplicas: [], partitionErrorCode: 0 }));

describe('rememberingPartitioner', () => {
  it('places every key where the default partitioner does, asked once or again, for any partition count', () => {
    const remembering = rememberingPartitioner();
    const fresh = Partitioners.DefaultPartitioner();
    const placed = new Set<number>();
    for (const count of [1, 3, 12, 24]) {
      for (let i = 0; i < 300; i++) {
        const key = `org-${i % 150}`; // each key twice
        const args = { topic: 'curbmap.usage', partitionMetadata: metadata(count), message: { key, value: 'x' } };
        const partition = remembering(args);
        expect(partition).toBe(fresh(args));
        if (count === 24) placed.add(partition);
      }
    }
    expect(placed.size).toBeGreaterThan(12);
  });

  it('keeps an explicit partition and leaves key-less and Buffer-keyed messages to the default', () => {
    const remembering = rememberingPartitioner();
    const partitionMetadata = metadata(12);
    expect(remembering({ topic: 't', partitionMetadata, message: { key: 'org-1', value: 'x', partition: 7 } })).toBe(7);
    const buffer = { topic: 't', partitionMetadata, message: { key: Buffer.from('org-1'), value: 'x' } };
    expect(remembering(buffer)).toBe(Partitioners.DefaultPartitioner()(buffer));
    const keyless = remembering({ topic: 't', partitionMetadata, message: { value: 'x' } });
    expect(keyless).toBeGreaterThanOrEqual(0);
    expect(keyless).toBeLessThan(12);
  });
});
