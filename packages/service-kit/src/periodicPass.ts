/**
 * A pass run every intervalMs and on demand (`tick`, for operators and tests at a given instant). Passes never
 * overlap: a tick waits for the one in progress. A failing timed pass is reported and the next one runs.
 */
export function periodicPass<R>(run: (at: Date) => Promise<R>, options: { intervalMs: number; now: () => Date; onError: (err: unknown) => void }): { tick(at?: Date): Promise<R>; stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const tick = (at: Date = options.now()) => {
    const next = running.then(() => run(at));
    running = next.catch(() => undefined);
    return next;
  };
  const timer = setInterval(() => void tick().catch(options.onError), options.intervalMs);
  timer.unref();
  return {
    tick,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
