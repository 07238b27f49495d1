// Route schemas carry OpenAPI fields (summary, tags, security): bring @fastify/swagger's type augmentation to every service.
/// <reference types="@fastify/swagger" preserve="true" />
export * from './auth.ts';
export * from './problem.ts';
export * from './serviceModule.ts';
export * from './scoping.ts';
export * from './inputSchemas.ts';
export * from './schemaTypeProvider.ts';
export * from './periodicPass.ts';
export * from './artifacts/artifactStore.ts';
export * from './artifacts/localDirectoryArtifactStore.ts';
