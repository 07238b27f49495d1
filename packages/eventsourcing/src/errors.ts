/** The small set of typed errors the kernel and the domains raise; the gateway maps them to HTTP in one place. */
export class DomainError extends Error {
  readonly code: string;
  readonly details?: unknown;
  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}
/** Input is well-formed but not acceptable (HTTP 400/422). */
export class ValidationError extends DomainError {
  constructor(message: string, details?: unknown) {
    super('validation_failed', message, details);
  }
}
/** The command is not allowed in the aggregate's current state (HTTP 409). */
export class IllegalStateError extends DomainError {
  constructor(message: string, details?: unknown) {
    super('illegal_state', message, details);
  }
}
export class NotFoundError extends DomainError {
  /** `what` names the missing thing: new NotFoundError('invoice') → "invoice not found". */
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}
export class ConcurrencyError extends DomainError {
  readonly streamId: string;
  readonly expected: string;
  readonly actual: string;
  constructor(streamId: string, expected: number | string, actual: number | string) {
    super('concurrency_conflict', `stream ${streamId}: expected version ${expected}, actual ${actual}`);
    this.streamId = streamId;
    this.expected = String(expected);
    this.actual = String(actual);
  }
}

/** An append claimed keys another append holds already: nothing was written (re-check, then retry). */
export class ClaimConflictError extends DomainError {
  readonly keys: string[];
  constructor(keys: string[]) {
    super('claim_conflict', `${keys.length} key(s) already claimed, e.g. ${keys[0]}`);
    this.keys = keys;
  }
}

/**
 * A checkpoint saved with a fence another writer has since taken (fenceCheckpoint): this writer lost the partition
 * it was handling, and the transaction carrying the checkpoint wrote nothing.
 */
export class FencedError extends Error {
  constructor(checkpoint: string, fence: number) {
    super(`checkpoint ${checkpoint} is no longer held with fence ${fence}: another process took it over`);
    this.name = 'FencedError';
  }
}
