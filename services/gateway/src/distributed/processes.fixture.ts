// Our processes for the multi-process tests: started from their sources, stopped for sure (the testing package's).
export { startProcess as start, stopProcess as stop, type Running as Started } from '@curbmap/testing/processes';

export const ADMIN = 'distributed-admin-token-0123456789';
