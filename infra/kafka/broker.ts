// `make kafka`: a single-node broker on loopback until Ctrl-C (the tests start their own the same way).
import { startPrivateBroker } from '../../packages/infra/src/index.ts';

const broker = await startPrivateBroker();
process.stderr.write(`Kafka broker (KRaft, single node) at ${broker.brokers.join(',')}: export KAFKA_BROKERS=${broker.brokers.join(',')}; Ctrl-C stops it\n`);
const stop = () => void broker.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => {}, 1 << 30);
