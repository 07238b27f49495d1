import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

const NAME = 'CurbmapCoPartitioned';

/**
 * Partition p of every topic a consumer group reads goes to the same member (members sorted, p mod their count).
 * The relay keys messages by organization and every topic has the same number of partitions, so one organization's
 * events of every category land in partitions of one number, handled by one process: a read-model document, which
 * holds one organization's data, is never written by two processes at once. (kafkajs' round robin spreads the
 * partitions of several topics without regard to their numbers.)
 */
export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: NAME,
  version: 0,
  async assign({ members, topics }) {
    const sorted = members.map((m) => m.memberId).sort();
    const assignment: Record<string, Record<string, number[]>> = {};
    for (const topic of topics) {
      for (const { partitionId } of cluster.findTopicPartitionMetadata(topic)) {
        const member = sorted[partitionId % sorted.length]!;
        ((assignment[member] ??= {})[topic] ??= []).push(partitionId);
      }
    }
    return Object.entries(assignment).map(([memberId, partitions]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: partitions, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return { name: NAME, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
  },
});
