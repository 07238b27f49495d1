export * from './usageModule.ts';
export * from './application/usageQuotas.ts';
export * from './projections/usageProjections.ts';
export * from './domain/rollup/rollup.ts';
export * from './domain/meters/builtInMeters.ts';
export * from './application/periodClosing.ts';
export * from './projections/usagePeriodProjection.ts';
export * from './usageSetup.ts';
