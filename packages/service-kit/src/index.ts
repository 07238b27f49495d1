export * from './auth.ts';
export * from './problem.ts';
export * from './serviceModule.ts';
export * from './scoping.ts';
