import { KafkaJSNonRetriableError, KafkaJSProtocolError, type Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkaTopics } from './kafkaTopics.ts';

const notLeader = () => new KafkaJSProtocolError(Object.assign(new Error('This server is not the leader for that topic-partition'), { type: 'NOT_LEADER_FOR_PARTITION', code: 6, retriable: true }));
const offsets = [{ partition: 0, offset: '7', high: '7', low: '2' }];

/** Admin clients that answer in turn from `answers` (an error is thrown), counting how many were made. */
function kafkaAnswering(answers: (unknown[] | Error)[]) {
  let made = 0;
  const kafka = {
    admin: () => {
      made += 1;
      return {
        connect: async () => {},
        disconnect: async () => {},
        fetchTopicOffsets: async () => {
          const answer = answers.shift()!;
          if (answer instanceof Error) throw answer;
          return answer;
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, made: () => made };
}

// kafkajs' admin client gives up at once on NOT_LEADER_FOR_PARTITION; a real single-node broker answered it
// right after creating a topic, once in a CI run (the Kafka subscriptions contract suite).
describe('KafkaTopics offsets', () => {
  it('asks again, with a fresh client, when the broker answers that it is not the partition\'s leader yet', async () => {
    const { kafka, made } = kafkaAnswering([notLeader(), notLeader(), offsets]);
    expect(await new KafkaTopics(kafka).ends('curbmap.thing')).toEqual(new Map([[0, 7n]]));
    expect(made()).toBe(3);
  });

  it('gives up on an error that is not retriable at once, and on a retriable one after its retries', async () => {
    const fatal = new KafkaJSNonRetriableError('Invalid topic');
    const once = kafkaAnswering([fatal]);
    await expect(new KafkaTopics(once.kafka).ends('curbmap.thing')).rejects.toBe(fatal);
    expect(once.made()).toBe(1);
    const always = kafkaAnswering(Array.from({ length: 6 }, notLeader));
    await expect(new KafkaTopics(always.kafka).ends('curbmap.thing')).rejects.toThrow(/not the leader/);
    expect(always.made()).toBe(6);
  });
});
