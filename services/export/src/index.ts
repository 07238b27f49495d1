export * from './exportModule.ts';
export * from './projections/curbInventoryProjection.ts';
export * from './projections/exportJobProjection.ts';
export * from './exportSetup.ts';
