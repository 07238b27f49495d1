// Route schemas carry OpenAPI fields (summary, tags, security): bring @fastify/swagger's type augmentation to every service.
/// <reference types="@fastify/swagger" preserve="true" />
export * from './auth.ts';
export * from './problem.ts';
export * from './serviceModule.ts';
export * from './scoping.ts';
export * from './inputSchemas.ts';
export * from './schemaTypeProvider.ts';
export * from './periodicPass.ts';
export * from './plans/planCatalogProjection.ts';
export * from './contracts/contractProjection.ts';
export * from './artifacts/artifactStore.ts';
export * from './artifacts/localDirectoryArtifactStore.ts';
export * from './artifacts/openArtifactStore.ts';
export * from './http/requestValidation.ts';
export * from './http/problemErrors.ts';
export * from './http/requestWrites.ts';
export * from './http/internalAuth.ts';
export * from './http/serviceApp.ts';
export * from './host/storage.ts';
export * from './host/serviceProcess.ts';
export * from './host/secrets.ts';
export * from './host/config.ts';
export * from './host/clock.ts';
export * from './host/garbage.ts';
export * from './host/supervisor.ts';
