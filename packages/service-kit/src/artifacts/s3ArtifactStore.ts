import { PassThrough, Writable, type Readable } from 'node:stream';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, S3Client, type BucketLocationConstraint } from '@aws-sdk/client-s3';
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
 * through the platform's signed, expiring links: the bucket is never exposed. The credentials need s3:ListBucket
 * besides get, put and delete of objects (without it a missing object answers 403, not 404).
 */
export class S3ArtifactStore implements ArtifactStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly region: string;
  private ready: Promise<void> | null = null;

  constructor(options: S3Options) {
    this.region = options.region ?? process.env['AWS_REGION'] ?? 'us-east-1';
    this.client = new S3Client({
      region: this.region,
      // A stalled server fails the request (and the export or PDF that waits on it) rather than hang it.
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
      ...(options.url ? { endpoint: options.url, forcePathStyle: true } : {}),
    });
    this.bucket = options.bucket;
  }

  /** The bucket, created when missing; asked again after a failure (a server still starting, say). */
  private ensureBucket(): Promise<void> {
    this.ready ??= this.createIfMissing().catch((err: unknown) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  private async createIfMissing(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (statusOf(err) !== 404 && errorName(err) !== 'NotFound' && errorName(err) !== 'NoSuchBucket') throw err;
      try {
        const where = this.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: this.region as BucketLocationConstraint } };
        await this.client.send(new CreateBucketCommand({ Bucket: this.bucket, ...where }));
      } catch (created) {
        // Another process created it meanwhile.
        if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(errorName(created))) throw created;
      }
    }
  }

  /**
   * The producer writes to `stream`; its end does not end the upload (a pipeline ends its destination by itself):
   * only commit() does, so an object appears when commit() is called and never before, and abort() before that
   * leaves nothing. Errors of the upload reach the producer through its writes and the caller through commit().
   */
  create(key: string): ArtifactWriter {
    checkArtifactKey(key);
    const body = new PassThrough();
    const controller = new AbortController();
    let failure: Error | null = null;
    // Streamed as it is written: one PUT when small, a multipart upload of 8 MiB parts otherwise.
    const done = this.ensureBucket().then(() => new Upload({ client: this.client, params: { Bucket: this.bucket, Key: key, Body: body }, partSize: 8 * 1024 * 1024, queueSize: 2, abortController: controller }).done());
    const failed = done.then(
      () => undefined,
      (err: Error) => {
        failure = err;
        body.destroy();
      },
    );
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (failure) return callback(failure);
        if (body.write(chunk)) return callback();
        // Wait for the upload to take more, or to fail.
        const resume = () => {
          body.off('drain', resume);
          callback(failure ?? undefined);
        };
        body.on('drain', resume);
        void failed.then(resume);
      },
      final(callback) {
        callback(failure ?? undefined);
      },
    });
    // The caller learns of a failure from commit() (or its pipeline); an 'error' event nobody listens to would crash.
    stream.on('error', () => undefined);
    let committing = false;
    const client = this.client;
    const bucket = this.bucket;
    return {
      stream,
      async commit() {
        if (!stream.writableFinished) await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
        committing = true;
        body.end();
        await done;
      },
      async abort() {
        controller.abort();
        stream.destroy();
        body.destroy();
        await done.catch(() => undefined);
        // A commit whose answer was lost may have completed: the object goes.
        if (committing) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
      },
    };
  }

  async open(key: string): Promise<{ stream: Readable; bytes: number } | null> {
    checkArtifactKey(key);
    await this.ensureBucket();
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
    await this.ensureBucket();
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  close(): void {
    this.client.destroy();
  }
}
