import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
import { describe, expect, it } from 'vitest';
import { allContracts, asyncApiDocument, breakingChanges } from './asyncapi.ts';
import { object } from './events/common.ts';
import { categoriesOfTypes, streamCategories } from './topics.ts';
import { ASYNCAPI_FILE, renderAsyncApi } from './writeAsyncApi.ts';

describe('the AsyncAPI document of our topics', () => {
  it('is a valid AsyncAPI 3 document (@asyncapi/parser): a channel per category, every event type a message', async () => {
    const { document, diagnostics } = await new Parser().parse(renderAsyncApi());
    // Severity 0 is an error; warnings are style advice.
    expect(diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join('.')}: ${d.message}`)).toEqual([]);
    expect(document).toBeDefined();
    expect(document!.version()).toBe('3.0.0');
    expect(document!.channels().length).toBe(Object.keys(streamCategories).length + 1);
    const usage = document!.channels().get('usage')!;
    expect(usage.address()).toBe('curbmap.usage');
    expect(usage.messages().all().map((m) => m.name())).toEqual(['usage.events.recorded']);
    expect(new Set(document!.allMessages().all().map((m) => m.name()))).toEqual(new Set([...allContracts.map((c) => c.type), 'dead-letter']));
  });

  it('names every event type the contracts declare, and no type they do not', () => {
    const declared = new Set(allContracts.map((c) => c.type));
    const carried = new Set(Object.values(streamCategories).flatMap((c) => c.types));
    expect([...declared].filter((t) => !carried.has(t))).toEqual([]);
    expect([...carried].filter((t) => !declared.has(t))).toEqual([]);
    expect(categoriesOfTypes(['billing.payment.succeeded']).sort()).toEqual(['payment', 'receivable']);
  });

  it('is committed as generated (pnpm asyncapi), and changed only compatibly since', () => {
    const committed = JSON.parse(readFileSync(ASYNCAPI_FILE, 'utf8')) as Record<string, unknown>;
    const generated = JSON.parse(renderAsyncApi()) as Record<string, unknown>;
    expect(breakingChanges(committed, generated)).toEqual([]);
    expect(generated, 'docs/asyncapi.json is stale: run pnpm asyncapi').toEqual(committed);
  });

  it('tells a compatible change (a new optional property, a new type) from a breaking one', () => {
    const contract = (type: string, schema: Record<string, unknown>) => ({ type, schemaVersion: 1, schema });
    const base = [contract('usage.events.recorded', object({ items: { type: 'array' }, timeZone: { type: 'string' } }))];
    const before = asyncApiDocument('1', [...allContracts.filter((c) => c.type !== 'usage.events.recorded'), ...base]);
    const withOptional = { ...object({ items: { type: 'array' }, timeZone: { type: 'string' }, note: { type: 'string' } }), required: ['items', 'timeZone'] };
    const compatible = asyncApiDocument('2', [...allContracts.filter((c) => c.type !== 'usage.events.recorded'), contract('usage.events.recorded', withOptional)]);
    expect(breakingChanges(before, compatible)).toEqual([]);

    const newRequired = asyncApiDocument('2', [...allContracts.filter((c) => c.type !== 'usage.events.recorded'), contract('usage.events.recorded', object({ items: { type: 'array' }, timeZone: { type: 'string' }, note: { type: 'string' } }))]);
    expect(breakingChanges(before, newRequired)).toEqual(['usage.events.recorded.data.note is new and required (events already written lack it)']);
    const retyped = asyncApiDocument('2', [...allContracts.filter((c) => c.type !== 'usage.events.recorded'), contract('usage.events.recorded', object({ items: { type: 'object' }, timeZone: { type: 'string' } }))]);
    expect(breakingChanges(before, retyped)).toEqual(['usage.events.recorded.data.items changed from {"type":"array"} to {"type":"object"}']);
    const removed = asyncApiDocument('2', [...allContracts.filter((c) => c.type !== 'usage.events.recorded'), contract('usage.events.recorded', object({ items: { type: 'array' } }))]);
    expect(breakingChanges(before, removed)).toContain('usage.events.recorded.data.timeZone was removed');

    // A raised schema version is declared (consumers upcast); a lowered one, or a break behind a raise, is not.
    const others = allContracts.filter((c) => c.type !== 'usage.events.recorded');
    const raised = asyncApiDocument('2', [...others, { ...base[0]!, schemaVersion: 2 }]);
    expect(breakingChanges(before, raised)).toEqual([]);
    expect(breakingChanges(raised, before)).toEqual(['usage.events.recorded.schemaVersion changed from {"const":2} to {"const":1}']);
    const raisedAndRetyped = asyncApiDocument('2', [...others, { ...contract('usage.events.recorded', object({ items: { type: 'object' }, timeZone: { type: 'string' } })), schemaVersion: 2 }]);
    expect(breakingChanges(before, raisedAndRetyped)).toEqual(['usage.events.recorded.data.items changed from {"type":"array"} to {"type":"object"}']);
  });
});
