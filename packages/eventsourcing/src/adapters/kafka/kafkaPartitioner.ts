import { Partitioners, type ICustomPartitioner } from 'kafkajs';

/** Keys remembered before the memory starts over (organizations: a deployment has far fewer). */
const REMEMBERED = 10_000;

/**
 * kafkajs's default partitioner (murmur2 of the key modulo the partition count, as Java clients place keys),
 * remembering the partition of each string key: the relay keys every message by organization, so a batch of 500
 * is mostly one key, and hashing it 500 times (with kafkajs filtering the partition list on each) was a tenth of
 * the relay's time. The same key and partition count always give the partition the default one gives.
 */
export const rememberingPartitioner: ICustomPartitioner = () => {
  const partitionerOf = Partitioners.DefaultPartitioner();
  const known = new Map<string, number>();
  return (args) => {
    const { message, partitionMetadata } = args;
    if ((message.partition !== null && message.partition !== undefined) || typeof message.key !== 'string') return partitionerOf(args);
    const key = `${partitionMetadata.length}:${message.key}`;
    let partition = known.get(key);
    if (partition === undefined) {
      if (known.size >= REMEMBERED) known.clear();
      partition = partitionerOf(args);
      known.set(key, partition);
    }
    return partition;
  };
};
