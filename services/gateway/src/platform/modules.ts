import type { ServiceModule } from '@curbmap/service-kit';
import { tenancyModule } from '../tenancyModule.ts';

/** Every service hosted by the embedded platform. */
export const allModules: ServiceModule[] = [tenancyModule];
