import { API_REQUEST_ITEM_TYPE, type MeterDefinition } from '@curbmap/contracts';

/**
 * The platform's own usage, measured for every organization: the meters the plan catalogue prices
 * (api_requests, export_jobs, curb_zones) and a few more it reports. Their keys are reserved.
 */
export const builtInMeters: MeterDefinition[] = [
  // Each item tallies the requests of one key, route and status in one second (see ApiRequestRecorder).
  { key: 'api_requests', name: 'API requests', eventType: API_REQUEST_ITEM_TYPE, aggregation: 'sum', valueProperty: 'requests', groupBy: ['keyId'] },
  { key: 'export_jobs', name: 'Export jobs', eventType: 'curbmap.export.completed', aggregation: 'count', valueProperty: null, groupBy: [] },
  { key: 'export_rows', name: 'Exported rows', eventType: 'curbmap.export.completed', aggregation: 'sum', valueProperty: 'rows', groupBy: [] },
  { key: 'export_bytes', name: 'Exported bytes', eventType: 'curbmap.export.completed', aggregation: 'sum', valueProperty: 'bytes', groupBy: [] },
  { key: 'curb_zones', name: 'Curb zones mapped', eventType: 'curbmap.curbs.counted', aggregation: 'latest', valueProperty: 'zones', groupBy: [] },
  { key: 'invoices_issued', name: 'Invoices issued', eventType: 'curbmap.invoice.issued', aggregation: 'count', valueProperty: null, groupBy: [] },
  { key: 'seats', name: 'Seats', eventType: 'curbmap.billing.seats', aggregation: 'latest', valueProperty: 'seats', groupBy: [] },
];

export const builtInMeterKeys = new Set(builtInMeters.map((m) => m.key));
