export * from './http/gatewayApp.ts';
export * from './platform/embeddedPlatform.ts';
export * from './platform/modules.ts';
export * from './platform/demoSeed.ts';
export * from './tenancyModule.ts';
