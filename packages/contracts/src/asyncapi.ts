import type { EventContract, JsonSchema } from './eventRegistry.ts';
import { billingContracts } from './events/billing.ts';
import { catalogContracts } from './catalog.ts';
import { contractContracts } from './contractTerms.ts';
import { exportContracts } from './events/export.ts';
import { invoiceContracts } from './events/invoice.ts';
import { notificationContracts } from './events/notification.ts';
import { tenancyContracts } from './events/tenancy.ts';
import { usageContracts } from './events/usage.ts';
import { streamCategories, topicOf, type StreamCategory } from './topics.ts';

export const allContracts: EventContract[] = [...tenancyContracts, ...billingContracts, ...catalogContracts, ...contractContracts, ...invoiceContracts, ...usageContracts, ...exportContracts, ...notificationContracts];

const KAFKA_BINDING = '0.5.0';
const DEAD_LETTERS = 'curbmap.dead-letters';

/** The envelope of every message (what the event store holds), with one event type's data. */
function envelope(contract: EventContract, category: StreamCategory): JsonSchema {
  const text = { type: 'string' };
  return {
    type: 'object',
    required: ['id', 'type', 'schemaVersion', 'streamId', 'streamVersion', 'globalPosition', 'occurredAt', 'organizationId', 'correlationId', 'causationId', 'data'],
    properties: {
      id: { type: 'string', format: 'uuid', description: 'The event id. Delivery is at least once: consumers deduplicate by it.' },
      type: { const: contract.type },
      schemaVersion: { const: contract.schemaVersion },
      streamId: { type: 'string', description: `The stream, ${category.streamId}; also the message key.` },
      streamVersion: { type: 'integer', minimum: 0, description: "0-based revision of the event in its stream: a stream's events arrive in this order." },
      globalPosition: { type: 'string', description: "Opaque position in the platform's log." },
      occurredAt: { type: 'string', format: 'date-time' },
      organizationId: text,
      projectId: text,
      correlationId: text,
      causationId: text,
      data: contract.schema,
    },
  };
}

/**
 * The AsyncAPI 3 document of the platform's topics: one channel per stream category, keyed by stream id, with
 * every event type it carries as a message (the envelope around the type's data schema), and the dead-letter
 * topic. Generated from the contracts, never written by hand.
 */
export function asyncApiDocument(version: string, contracts: EventContract[] = allContracts): Record<string, unknown> {
  const byType = new Map(contracts.map((c) => [c.type, c]));
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const [name, category] of Object.entries(streamCategories as Record<string, StreamCategory>)) {
    const channelMessages: Record<string, unknown> = {};
    for (const type of category.types) {
      const contract = byType.get(type);
      if (!contract) throw new Error(`stream category ${name} names ${type}, which no contract declares`);
      messages[type] ??= {
        name: type,
        title: type,
        summary: `${type}, schema version ${contract.schemaVersion}`,
        contentType: 'application/json',
        headers: {
          type: 'object',
          required: ['event-id', 'event-type', 'schema-version'],
          properties: { 'event-id': { type: 'string', format: 'uuid' }, 'event-type': { const: type }, 'schema-version': { type: 'string', const: String(contract.schemaVersion) } },
        },
        payload: envelope(contract, category),
        bindings: { kafka: { key: { type: 'string', description: 'The stream id: one stream, one partition, in order.' }, bindingVersion: KAFKA_BINDING } },
      };
      channelMessages[type] = { $ref: `#/components/messages/${type}` };
    }
    channels[name] = {
      address: topicOf(name),
      title: topicOf(name),
      description: `${category.description} Written by the ${category.service} service; keyed by ${category.streamId}.`,
      messages: channelMessages,
      bindings: { kafka: { topic: topicOf(name), partitions: 3, bindingVersion: KAFKA_BINDING } },
    };
    operations[`publish-${name}`] = {
      action: 'send',
      title: `Publish ${topicOf(name)}`,
      summary: `The relay publishes every ${name} event of the log, in order, at least once.`,
      channel: { $ref: `#/channels/${name}` },
      messages: Object.keys(channelMessages).map((type) => ({ $ref: `#/channels/${name}/messages/${type}` })),
    };
  }
  channels['dead-letters'] = {
    address: DEAD_LETTERS,
    title: DEAD_LETTERS,
    description: 'Messages a consumer gave up on after its retries: the message as it came (key, value and headers), with the reason.',
    messages: { 'dead-letter': { $ref: '#/components/messages/dead-letter' } },
    bindings: { kafka: { topic: DEAD_LETTERS, partitions: 3, bindingVersion: KAFKA_BINDING } },
  };
  messages['dead-letter'] = {
    name: 'dead-letter',
    title: 'A message a consumer could not handle',
    contentType: 'application/json',
    headers: {
      type: 'object',
      required: ['dead-letter-subscription', 'dead-letter-reason', 'dead-letter-attempts', 'dead-letter-source'],
      properties: {
        'dead-letter-subscription': { type: 'string', description: 'The consumer (subscription) that gave up.' },
        'dead-letter-reason': { type: 'string' },
        'dead-letter-attempts': { type: 'string', description: 'How many times it was tried.' },
        'dead-letter-source': { type: 'string', description: '<topic>:<partition>:<offset> it came from.' },
        'event-id': { type: 'string' },
        'event-type': { type: 'string' },
      },
    },
    payload: { description: 'The original value, unchanged (it may not be JSON).' },
  };
  operations['dead-letter'] = { action: 'send', title: `Publish ${DEAD_LETTERS}`, channel: { $ref: '#/channels/dead-letters' }, messages: [{ $ref: '#/channels/dead-letters/messages/dead-letter' }] };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'CurbMap events',
      version,
      description:
        "The platform's event log as Kafka topics, one per stream category. Delivery is at least once and ordered per stream (the message key): consumers deduplicate by event id and ignore properties they do not know. A message's schema only ever gains optional properties; an incompatible change is a new event type.",
    },
    defaultContentType: 'application/json',
    servers: { local: { host: '127.0.0.1:9092', protocol: 'kafka', description: 'make up-distributed (KAFKA_BROKERS elsewhere)' } },
    channels,
    operations,
    components: { messages },
  };
}

/**
 * Why a later version of the document would break a consumer of the earlier one: a message or channel gone, a
 * property removed or retyped, a new required property, or a property made required. New optional properties,
 * messages and channels are fine.
 */
export function breakingChanges(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const messagesOf = (doc: Record<string, unknown>) => ((doc['components'] as { messages?: Record<string, { payload?: JsonSchema }> })?.messages ?? {});
  const [old, now] = [messagesOf(before), messagesOf(after)];
  for (const [name, message] of Object.entries(old)) {
    if (!now[name]) problems.push(`message ${name} was removed`);
    else compareSchemas(`${name}`, withoutRaisedVersion(message.payload ?? {}, now[name]!.payload ?? {}), now[name]!.payload ?? {}, problems);
  }
  const channelsOf = (doc: Record<string, unknown>) => (doc['channels'] ?? {}) as Record<string, { address?: string; messages?: Record<string, unknown> }>;
  const [oldChannels, newChannels] = [channelsOf(before), channelsOf(after)];
  for (const [name, channel] of Object.entries(oldChannels)) {
    const next = newChannels[name];
    if (!next || next.address !== channel.address) problems.push(`channel ${name} (${channel.address}) was removed or moved`);
    else for (const message of Object.keys(channel.messages ?? {})) if (!next.messages?.[message]) problems.push(`channel ${name} no longer carries ${message}`);
  }
  return problems;
}

/**
 * A raised schemaVersion is a declared change, not a silent one: messages say their version, and consumers
 * upcast what earlier versions wrote (as the registry does). The data schema is still compared as ever.
 */
function withoutRaisedVersion(before: JsonSchema, after: JsonSchema): JsonSchema {
  const versionOf = (s: JsonSchema) => ((s['properties'] as Record<string, { const?: unknown }> | undefined)?.['schemaVersion']?.const);
  const [was, is] = [versionOf(before), versionOf(after)];
  if (typeof was !== 'number' || typeof is !== 'number' || is <= was) return before;
  return { ...before, properties: { ...(before['properties'] as object), schemaVersion: (after['properties'] as Record<string, JsonSchema>)['schemaVersion']! } };
}

function compareSchemas(path: string, before: JsonSchema, after: JsonSchema, problems: string[]): void {
  const isObject = (s: JsonSchema) => s['type'] === 'object' && typeof s['properties'] === 'object';
  if (!isObject(before) || !isObject(after)) {
    if (JSON.stringify(before) !== JSON.stringify(after)) problems.push(`${path} changed from ${JSON.stringify(before)} to ${JSON.stringify(after)}`);
    return;
  }
  const [oldProps, newProps] = [before['properties'] as Record<string, JsonSchema>, after['properties'] as Record<string, JsonSchema>];
  const [oldRequired, newRequired] = [new Set((before['required'] as string[]) ?? []), new Set((after['required'] as string[]) ?? [])];
  for (const [name, schema] of Object.entries(oldProps)) {
    if (!newProps[name]) problems.push(`${path}.${name} was removed`);
    else compareSchemas(`${path}.${name}`, schema, newProps[name]!, problems);
  }
  for (const name of newRequired) {
    if (!oldRequired.has(name)) problems.push(oldProps[name] ? `${path}.${name} became required` : `${path}.${name} is new and required (events already written lack it)`);
  }
  for (const [key, value] of Object.entries(before)) {
    if (key === 'properties' || key === 'required' || key === 'description') continue;
    if (JSON.stringify(value) !== JSON.stringify(after[key])) problems.push(`${path}: ${key} changed from ${JSON.stringify(value)} to ${JSON.stringify(after[key])}`);
  }
}
