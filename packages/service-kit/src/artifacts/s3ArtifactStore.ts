import { PassThrough, type Readable } from 'node:stream';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ArtifactStore, ArtifactWriter } from './artifactStore.ts';
import { checkArtifactKey } from './artifactKey.ts';

export interface S3Options {
  /** S3_URL: the endpoint of an S3-compatible server (path-style addressing); none: AWS's own, by region. */
  url: string | null;
  /** S3_BUCKET: created when missing. */
  bucket: string;
  /** AWS_REGION; credentials come from the standard AWS_* variables (the SDK's default chain). */
  region?: string;
}

const errorName = (err: unknown) => (err as { name?: string }).name ?? '';
const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/**
 * Artifacts in an S3 bucket, so the export and invoice processes of different machines share them. An object
 * appears whole when its upload completes (a single PUT, or a multipart upload's completion) and never before: a
 * writer that aborts, or a process that dies mid-upload, leaves nothing a reader can open (an unfinished multipart
 * upload is invisible; a bucket lifecycle rule for incomplete uploads reclaims its parts). Downloads still go
 * through the platform's signed, expiring links: the bucket is never exposed.
 */
export class S3ArtifactStore implements ArtifactStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly ready: Promise<void>;

  constructor(options: S3Options) {
    this.client = new S3Client({
      region: options.region ?? process.env['AWS_REGION'] ?? 'us-east-1',
      ...(options.url ? { endpoint: options.url, forcePathStyle: true } : {}),
    });
    this.bucket = options.bucket;
    this.ready = this.ensureBucket();
    // A failure is reported by the first use, not as an unhandled rejection at start.
    this.ready.catch(() => undefined);
  }

  private async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (statusOf(err) !== 404 && errorName(err) !== 'NotFound' && errorName(err) !== 'NoSuchBucket') throw err;
      try {
        await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
      } catch (created) {
        // Another process created it meanwhile.
        if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(errorName(created))) throw created;
      }
    }
  }

  create(key: string): ArtifactWriter {
    checkArtifactKey(key);
    const stream = new PassThrough();
    const controller = new AbortController();
    // Streamed as it is written: one PUT when small, a multipart upload of 8 MiB parts otherwise.
    const done = this.ready.then(() => new Upload({ client: this.client, params: { Bucket: this.bucket, Key: key, Body: stream }, partSize: 8 * 1024 * 1024, queueSize: 2, abortController: controller }).done());
    // An upload that fails stops the writer too (its producer sees the error instead of waiting on a full stream).
    done.catch((err) => stream.destroy(err as Error));
    return {
      stream,
      async commit() {
        if (!stream.writableEnded) stream.end();
        await done;
      },
      async abort() {
        controller.abort();
        stream.destroy();
        await done.catch(() => undefined);
      },
    };
  }

  async open(key: string): Promise<{ stream: Readable; bytes: number } | null> {
    checkArtifactKey(key);
    await this.ready;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return { stream: object.Body as Readable, bytes: object.ContentLength ?? 0 };
    } catch (err) {
      if (errorName(err) === 'NoSuchKey' || statusOf(err) === 404) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    checkArtifactKey(key);
    await this.ready;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  close(): void {
    this.client.destroy();
  }
}
