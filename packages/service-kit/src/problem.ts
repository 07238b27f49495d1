import { EventValidationError } from '@curbmap/contracts';
import { ConcurrencyError, DomainError, IllegalStateError, InvalidCursorError, NotFoundError, ValidationError } from '@curbmap/eventsourcing';

/** RFC 9457 problem details: the one error shape of the public API. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  requestId?: string;
  code?: string;
  errors?: { path: string; message: string }[];
}

export const PROBLEM_TYPE_BASE = 'https://docs.curbmap.dev/problems/';

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly errors?: Problem['errors'];
  /** Headers the answer carries (Retry-After, Allow). */
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, errors?: Problem['errors'], headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.headers = headers;
    if (errors) this.errors = errors;
  }
}

/**
 * The command committed, but a read model has not caught up within the bound: the answer is 202 with a
 * Location to poll, never a 500 after a successful commit.
 */
export class NotYetVisibleError extends Error {
  constructor(readModels: string[]) {
    super(`accepted; not yet visible in ${readModels.join(', ')}: poll the Location`);
    this.name = 'NotYetVisibleError';
  }
}

export const unauthorized = (message = 'a valid API key is required (Authorization: Bearer <key>)') => new HttpError(401, 'unauthorized', message);
export const forbidden = (message: string) => new HttpError(403, 'forbidden', message);
export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} not found`);

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[];
  validationContext?: string;
}

/** Maps any thrown error to a problem; 5xx details stay in the log, not in the answer. */
// Out of reach for now, not broken: the socket (Node), PostgreSQL's SQLSTATE class 08 and its shutdown and
// start-up codes, node-postgres' own messages for a connection the server cut, the MongoDB driver's network errors.
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', '57P01', '57P02', '57P03']);
const UNREACHABLE_MESSAGES = [/^Connection terminated/, /^timeout exceeded when trying to connect/, /^Client has encountered a connection error/, /^Client was closed and is not queryable/];
const UNREACHABLE_NAMES = new Set(['MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError', 'MongoNotConnectedError', 'MongoTopologyClosedError']);

/**
 * The store (or another server the request needs) is out of reach: a restart, a failover, a cut connection.
 * The request answers 503 with Retry-After, not 500: nothing is wrong with it, and its retry (with the same
 * Idempotency-Key, when it wrote) is the right move. Follows `cause`, as drivers wrap what the socket said.
 */
export function isUnreachable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message, name } = e as { code?: unknown; message?: unknown; name?: unknown };
    if (typeof name === 'string' && UNREACHABLE_NAMES.has(name)) return true;
    // (08P01, a protocol violation, is a bug on one side, not an outage: retrying cannot help.)
    if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || (code.startsWith('08') && code !== '08P01'))) return true;
    if (typeof message === 'string' && UNREACHABLE_MESSAGES.some((m) => m.test(message))) return true;
  }
  return false;
}

export function toProblem(err: unknown): Problem {
  const make = (status: number, code: string, detail: string, errors?: Problem['errors']): Problem => ({
    type: PROBLEM_TYPE_BASE + code,
    title: titles[status] ?? 'Error',
    status,
    detail,
    code,
    ...(errors ? { errors } : {}),
  });
  if (err instanceof HttpError) return make(err.status, err.code, err.message, err.errors);
  if (err instanceof ConcurrencyError) return make(409, err.code, 'the resource changed while this request ran; retry it');
  if (err instanceof NotFoundError) return make(404, err.code, err.message);
  if (err instanceof ValidationError) return make(422, err.code, err.message);
  if (err instanceof IllegalStateError) return make(409, err.code, err.message);
  if (err instanceof DomainError) return make(400, err.code, err.message);
  // A `cursor` a client made up, or kept from another listing: any keyset page answers the same. Well-formed as
  // the document says (an opaque string), it cannot be used: 422.
  if (err instanceof InvalidCursorError) return make(422, 'invalid_cursor', err.message);
  if (err instanceof EventValidationError) return make(500, 'internal_error', 'internal error');
  if (isUnreachable(err)) return make(503, 'unavailable', 'a store this request needs is out of reach for a moment; retry shortly');
  const e = err as FastifyLikeError;
  if (e.validation) {
    const where = e.validationContext ?? 'body';
    const errors = e.validation.map((v) => {
      const extra = v.params?.['missingProperty'] ?? v.params?.['additionalProperty'];
      return { path: `${where}${v.instancePath}${extra ? `/${String(extra)}` : ''}`, message: v.message ?? 'is invalid' };
    });
    return make(400, 'invalid_request', `the request ${where} is invalid: ${errors.map((x) => `${x.path} ${x.message}`).join('; ')}`, errors);
  }
  const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (status >= 500) return make(status, status === 503 ? 'unavailable' : 'internal_error', status === 503 ? 'service unavailable' : 'internal error');
  const code = status === 429 ? 'rate_limited' : status === 415 ? 'unsupported_media_type' : (e.code ?? 'bad_request').toLowerCase().replace(/^fst_err_/, '');
  return make(status, code, e.message);
}

/** JSON Schema of a problem, for route response declarations and the OpenAPI document. */
export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    requestId: { type: 'string' },
    code: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
} as const;

/** Problem responses a route can answer, by status, for its `response` schema. */
export function problemResponses(...statuses: number[]): Record<number, unknown> {
  const out: Record<number, unknown> = {};
  for (const s of statuses) out[s] = { description: titles[s] ?? 'Error', content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } } };
  return out;
}
