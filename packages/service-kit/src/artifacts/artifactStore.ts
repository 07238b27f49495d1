import type { Readable, Writable } from 'node:stream';

/** An artifact being written: invisible to readers until commit, gone on abort. */
export interface ArtifactWriter {
  stream: Writable;
  /** Makes the whole artifact visible at once (after its bytes are durable). */
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Files the platform produces (exports, PDFs): a local directory, or an S3-compatible bucket shared by machines. */
export interface ArtifactStore {
  create(key: string): ArtifactWriter;
  /** The committed artifact, or null: a half-written one is never returned. */
  open(key: string): Promise<{ stream: Readable; bytes: number } | null>;
  delete(key: string): Promise<void>;
}
