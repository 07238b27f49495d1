import type { Checkpoint } from './eventStore.ts';

/** Every read-model document is keyed by id and carries its tenant. */
export interface Document {
  id: string;
  organizationId: string;
  [field: string]: unknown;
}

export type Scalar = string | number | boolean | null;
/** A range on one field (Mongo-style operators, so the MongoDB adapter maps them one to one). */
export type Range = { $lt?: string | number; $lte?: string | number; $gt?: string | number; $gte?: string | number };
/** Equality (or a range) on top-level fields; every tenant query includes organizationId. */
export type Filter = Record<string, Scalar | Range>;

export interface FindOptions {
  limit?: number;
  orderBy?: string;
  direction?: 'asc' | 'desc';
}

export interface ReadStoreTx {
  get<T extends Document>(collection: string, id: string): Promise<T | null>;
  put(collection: string, doc: Document): Promise<void>;
  delete(collection: string, id: string): Promise<void>;
  saveCheckpoint(name: string, position: Checkpoint): Promise<void>;
}

export interface ReadStore {
  get<T extends Document>(collection: string, id: string): Promise<T | null>;
  find<T extends Document>(collection: string, filter: Filter, options?: FindOptions): Promise<T[]>;
  /** Runs fn atomically where the adapter can (SQLite); otherwise writes are idempotent upserts (MongoDB). */
  transaction<R>(fn: (tx: ReadStoreTx) => Promise<R>): Promise<R>;
  /** Declares a secondary query field so the adapter can index it. */
  ensureIndex(collection: string, field: string): Promise<void>;
  loadCheckpoint(name: string): Promise<Checkpoint>;
  /** Drops every document of the collections and the checkpoint: a projection rebuilt from position 0. */
  reset(checkpointName: string, collections: string[]): Promise<void>;
}
