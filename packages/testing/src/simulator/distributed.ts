import { randomBytes } from 'node:crypto';
import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
import { PostgresEventStore, PostgresReadStore } from '@curbmap/eventsourcing';
import { createDatabase, freePort, startPrivateBroker, startPrivateCluster, type PrivateBroker, type PrivateCluster } from '@curbmap/infra';
import { killHard, startProcess, stopProcess, type Running } from '../processes.ts';
import { clockWriter, simulationEnv, twiceSettled, type SimPlatform } from './platform.ts';

const SERVICES = ['billing', 'usage', 'export', 'invoice'] as const;

/**
 * Distributed mode: the gateway and the four services as processes of their own on a private PostgreSQL and
 * Kafka broker, every process on the simulation's clock. A crash is kill -9 of any one of them (the relay is the
 * gateway's), started again on the same port; an immediate stop and start of PostgreSQL; or a broker outage.
 */
export async function startDistributed(dir: string, extra: Record<string, string> = {}): Promise<SimPlatform> {
  const [cluster, broker]: [PrivateCluster, PrivateBroker] = await Promise.all([startPrivateCluster({ crashes: true }), startPrivateBroker()]);
  const databaseUrl = (await createDatabase(cluster.url)).url;
  const env: Record<string, string> = { ...simulationEnv(dir), ...extra, DATABASE_URL: databaseUrl, KAFKA_BROKERS: broker.brokers.join(','), CURBMAP_INTERNAL_SECRET: randomBytes(32).toString('hex') };
  const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()] as const))) as Record<string, number>;
  const launch = (name: string) =>
    name === 'gateway'
      ? startProcess('services/gateway/src/main.ts', { ...env, SERVICE_URLS: SERVICES.map((s) => `${s}=http://127.0.0.1:${ports[s]}`).join(',') }, /CurbMap is running at (\S+)/)
      : startProcess(`services/${name}/src/main.ts`, { ...env, PORT: String(ports[name]) }, /curbmap service listening at (\S+)/);
  const running: Record<string, Running | null> = {};
  // The supervisor a deployment has (up-distributed's, a container's restart policy): a process that exits on its
  // own (a lost database, say) is started again at once, and the report names it. A process crash() kills is
  // taken out of its sight first.
  const restarted: string[] = [];
  // What a process said before it died or was killed: a failing history's logs must show why it went.
  const past: string[] = [];
  let stopping = false;
  const launching = new Set<Promise<unknown>>();
  const supervised = async (name: string): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      if (stopping) return;
      const starting = launch(name);
      launching.add(starting);
      let failure: unknown = null;
      const p = await starting.catch((err: unknown) => ((failure = err), null)).finally(() => launching.delete(starting));
      if (!p) {
        if (attempt >= 5) throw failure;
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      if (stopping) return void (await stopProcess(p));
      running[name] = p;
      p.child.once('exit', (code, signal) => {
        if (stopping || running[name] !== p) return;
        restarted.push(`${name} exited (${code ?? signal}): ${p.output().trim().split('\n').slice(-3).join(' / ').slice(0, 400)}`);
        past.push(`--- ${name} (exited: ${code ?? signal})\n${p.output()}`);
        running[name] = null;
        void supervised(name).catch((err: Error) => restarted.push(`${name} could not be started again: ${err.message.slice(0, 400)}`));
      });
      return;
    }
  };
  for (const s of SERVICES) await supervised(s);
  await supervised('gateway');

  // Quiet: the relay has published the whole log, and every consumer group, settled (no rebalance under way), has
  // committed the end of every partition of every topic it reads. A group's topics are those its members subscribe
  // to, remembered across restarts, with those it committed on: a topic it never committed on (its first message,
  // say) is not in the broker's answer about its offsets, and was once missed that way (a receipt mailed too late).
  const store = await PostgresEventStore.open(databaseUrl);
  const checkpoints = await PostgresReadStore.open(databaseUrl);
  const kafka = new Kafka({ clientId: 'simulation', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topicsOf = new Map<string, Set<string>>();
  const settled = async () => {
    const head = await store.headPosition();
    const relayed = await checkpoints.loadCheckpoint('kafka-relay');
    if (head !== null && (relayed === null || store.compare(relayed, head) < 0)) return `the relay's checkpoint ${JSON.stringify(relayed)} is behind the log's head ${JSON.stringify(head)}`;
    const ends = new Map<string, Map<number, string>>();
    const endOf = async (topic: string) => {
      if (!ends.has(topic)) ends.set(topic, new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high])));
      return ends.get(topic)!;
    };
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
    for (const group of groups.length ? (await admin.describeGroups(groups)).groups : []) {
      if (group.state !== 'Stable' && group.state !== 'Empty') return `group ${group.groupId} is ${group.state}`;
      const topics = topicsOf.get(group.groupId) ?? new Set<string>();
      topicsOf.set(group.groupId, topics);
      for (const m of group.members) for (const t of AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.topics ?? []) topics.add(t);
      for (const { topic } of await admin.fetchOffsets({ groupId: group.groupId })) topics.add(topic);
    }
    for (const [groupId, topics] of topicsOf) {
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics: [...topics] })) {
        const high = await endOf(topic);
        for (const { partition, offset } of partitions) if (BigInt(high.get(partition) ?? '0') > BigInt(offset === '-1' ? '0' : offset)) return `group ${groupId} committed ${offset} on ${topic}[${partition}], whose end is ${high.get(partition)}`;
      }
    }
    return true as const;
  };
  // Every process's groups joined before the first step: a group not there yet is one no check could wait for.
  for (let stable = 0, last = -1, until = Date.now() + 60_000; stable < 12 && Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
    const ids = (await admin.listGroups()).groups.map((g) => g.groupId);
    const described = ids.length ? (await admin.describeGroups(ids)).groups : [];
    stable = described.length === last && described.every((g) => g.state === 'Stable') ? stable + 1 : 0;
    last = described.length;
  }
  return {
    url: () => running['gateway']!.url,
    setClock: clockWriter(env['CURBMAP_CLOCK_FILE']!),
    // PostgreSQL and the broker only when they are this run's own (not DATABASE_URL's or KAFKA_BROKERS').
    processes: () => ['gateway', ...SERVICES, ...(process.env['DATABASE_URL'] ? [] : ['postgres']), ...(process.env['KAFKA_BROKERS'] ? [] : ['broker'])],
    logs: () => [...past, ...Object.entries(running).map(([name, p]) => `--- ${name}\n${p?.output() ?? ''}`)].join('\n'),
    quiet: () => twiceSettled(settled, 'the distributed platform'),
    restarts: () => restarted,
    async crash(which = 'gateway') {
      if (which === 'postgres') {
        // Every connection of every process is cut; the server recovers from its log on the same port.
        await cluster.crash();
        return which;
      }
      if (which === 'broker') {
        // An outage of a few seconds: producers and consumers find it gone, then back with its data.
        await broker.halt();
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        await broker.resume();
        return which;
      }
      // Taken out of the supervisor's sight first: a quiet() meanwhile must not start it a second time.
      const victim = running[which] ?? null;
      if (!victim) return which; // the supervisor is starting it again already
      running[which] = null;
      await killHard(victim);
      past.push(`--- ${which} (killed)\n${victim.output()}`);
      await supervised(which);
      return which;
    },
    async stop() {
      stopping = true;
      await Promise.allSettled([...launching]);
      await admin.disconnect().catch(() => undefined);
      await store.close().catch(() => undefined);
      await checkpoints.close().catch(() => undefined);
      await Promise.all(Object.values(running).map((p) => stopProcess(p)));
      await broker.stop();
      await cluster.stop();
    },
  };
}
