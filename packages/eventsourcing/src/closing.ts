/**
 * Runs every step of a shutdown in order, each even when one before it failed (a broker refusing a disconnect must
 * not leave the database pools open and the process alive), then fails with the first failure, or all of them.
 */
export async function closeInOrder(steps: readonly (() => unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} steps of the shutdown failed`);
}
