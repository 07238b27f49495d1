import { expect } from 'vitest';
import { startTestPlatform, type TestPlatform, type TestPlatformOptions } from '@curbmap/gateway/testing';

/** The platform's time, set by the test. */
export interface Clock {
  at: Date;
}

const callAs = (headers: Record<string, string>) => (target: TestPlatform, method: 'GET' | 'POST', url: string, payload?: object, h: Record<string, string> = headers) => target.app.inject({ method, url, headers: h, ...(payload ? { payload } : {}) });

/**
 * An organization on a new platform with a count meter, an annual subscription, one edit near the end of its
 * first year (2027-05-10T05:00Z to 2028-05-10T05:00Z, Chicago) and the renewal at the year's end.
 */
export async function aYearEnded(clock: Clock, name: string, options: TestPlatformOptions) {
  clock.at = new Date('2027-05-10T12:00:00Z');
  const q = await startTestPlatform({ now: () => clock.at, ...options });
  const org = await q.createOrganization(name, { timeZone: 'America/Chicago' });
  const call = callAs({ authorization: `Bearer ${org.apiKey}` });
  const project = (await call(q, 'POST', '/v1/projects', { name: 'P' })).json().id as string;
  await call(q, 'POST', '/v1/meters', { key: 'edits', name: 'Edits', eventType: 'zone.edited', aggregation: 'count' });
  expect((await call(q, 'POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
  clock.at = new Date('2028-05-10T04:00:00Z');
  expect((await call(q, 'POST', '/v1/usage/events', { id: 'a', type: 'zone.edited', projectId: project, time: '2028-05-10T03:30:00Z', data: {} })).statusCode).toBe(200);
  clock.at = new Date('2028-05-10T05:00:00Z');
  await q.modules.billing.scheduler!.tick(clock.at);
  return { q, org, project, call };
}

/** The closed year's `edits`: its total as billed now, and its adjustments as [previous total, total, delta]. */
export async function closedEdits(q: TestPlatform, call: ReturnType<typeof callAs>) {
  const [, closed] = (await call(q, 'GET', '/v1/usage/periods')).json().data;
  return {
    total: closed.totals.find((t: { meter: string }) => t.meter === 'edits').total as number,
    // (API requests of that night are adjustments too: only the edits' are read.)
    adjustments: closed.adjustments.filter((a: { meter: string }) => a.meter === 'edits').map((a: { previousTotal: number; total: number; delta: number }) => [a.previousTotal, a.total, a.delta]),
  };
}
