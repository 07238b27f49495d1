import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './freePort.ts';
import { serverDirectory, startServerProcess, stopChild } from './childProcess.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `make kafka-libs` puts the broker and its dependencies (Maven Central, infra/kafka/pom.xml). */
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const KAFKA_LIBS = process.env['KAFKA_LIBS'] ?? join(repoRoot, '.tools', 'kafka', 'libs');
const LOG_CONFIG = join(repoRoot, 'infra', 'kafka', 'log4j2.properties');

export interface PrivateBroker {
  /** host:port of the PLAINTEXT listener. */
  brokers: string[];
  /** Stops the broker, keeping its data (an outage); resume() starts it again on the same ports. */
  halt(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** Why a broker cannot be started here, or null (what a suite prints when it skips). */
export function kafkaUnavailable(): string | null {
  if (process.env['KAFKA_BROKERS']) return null;
  if (spawnSync('java', ['-version']).status !== 0) return 'no Java here (the broker needs Java 17 or newer)';
  if (!existsSync(KAFKA_LIBS) || !readdirSync(KAFKA_LIBS).some((f) => f.startsWith('kafka_2.13-'))) return `the Kafka broker is not fetched (make kafka-libs puts it in ${KAFKA_LIBS})`;
  return null;
}

/**
 * A single-node KRaft broker (combined controller and broker) on two free loopback ports, its storage in a
 * temporary directory, with the small-cluster settings a single node needs (one offsets partition, replication
 * 1, no rebalance delay). With KAFKA_BROKERS set, that cluster is used instead.
 */
export async function startPrivateBroker(options: { dir?: string; ports?: [number, number] } = {}): Promise<PrivateBroker> {
  const given = process.env['KAFKA_BROKERS'];
  if (given) {
    const outside = async () => {
      throw new Error('the broker in KAFKA_BROKERS is not this process\'s to stop');
    };
    return { brokers: given.split(','), halt: outside, resume: outside, stop: async () => {} };
  }
  // A directory of the caller's (make up-distributed) is kept with its ports; a test's is temporary.
  const { dir, kept } = serverDirectory(options.dir, 'curbmap-kafka-');
  const portsFile = join(dir, 'ports.json');
  const [port, controller] = existsSync(portsFile) ? (JSON.parse(readFileSync(portsFile, 'utf8')) as [number, number]) : (options.ports ?? [await freePort(), await freePort()]);
  if (kept) writeFileSync(portsFile, JSON.stringify([port, controller]));
  const config = join(dir, 'server.properties');
  writeFileSync(
    config,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.bootstrap.servers=127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${join(dir, 'data')}`,
      'num.partitions=3',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'num.network.threads=2',
      'num.io.threads=2',
      'auto.create.topics.enable=false',
    ].join('\n'),
  );
  const classpath = `${KAFKA_LIBS}/*`;
  const java = (args: string[]) => execFileSync('java', ['-cp', classpath, `-Dlog4j2.configurationFile=${LOG_CONFIG}`, ...args], { stdio: 'pipe' }).toString().trim();
  if (!existsSync(join(dir, 'data', 'meta.properties'))) {
    const clusterId = java(['kafka.tools.StorageTool', 'random-uuid']).split('\n').pop()!;
    java(['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', config, '--standalone']);
  }
  // One process at a time; `halt` stops it and keeps its data, `resume` starts it again on the same ports.
  const launch = () =>
    startServerProcess('the Kafka broker', 'java', ['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${LOG_CONFIG}`, '-cp', classpath, 'kafka.Kafka', config], { ready: (output) => output.includes('Kafka Server started'), timeoutMs: 60_000 });
  const halt = (child: ChildProcess) => stopChild(child, { graceMs: 20_000 });
  let child = await launch();
  return {
    brokers: [`127.0.0.1:${port}`],
    halt: () => halt(child),
    async resume() {
      child = await launch();
    },
    async stop() {
      await halt(child);
      if (!kept) rmSync(dir, { recursive: true, force: true });
    },
  };
}
