// A child for processes.unit.spec.ts: announces where it listens, and writes a line as it stops, as a service logs
// its shutdown.
process.on('SIGTERM', () => {
  process.stderr.write('stopping: consumers disconnected\n');
  setTimeout(() => process.exit(0), 50);
});
setInterval(() => undefined, 1000);
process.stderr.write('fixture listening at http://127.0.0.1:1\n');
