// The servers the platform starts on this machine (make up-distributed), its tests and its benchmarks: PostgreSQL,
// the Kafka broker, FerretDB (MongoDB wire protocol) and SeaweedFS (S3), each from a registry's package or built
// from the Go module proxy into .tools/ by make; and how a process of them is stopped.
export * from './freePort.ts';
export * from './childProcess.ts';
export * from './postgres.ts';
export * from './kafka.ts';
export * from './ferretdb.ts';
export * from './seaweedfs.ts';
export * from './environment.ts';
