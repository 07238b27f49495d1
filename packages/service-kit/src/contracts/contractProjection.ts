import { contractAt, type ContractVersion } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection, type ReadStore } from '@curbmap/eventsourcing';
import { withVersion } from '../plans/planCatalogProjection.ts';

/** An organization's contract: every version the operator set, in order (id: the organization's). */
export interface ContractView extends Document {
  versions: ContractVersion[];
}

/** Each service that prices a year (billing, invoice) keeps its own copy of the contracts, from billing.contract.set. */
export function contractProjection(name: string, collection: string): Projection {
  return {
    name,
    filter: { types: ['billing.contract.set'] },
    collections: [collection],
    async apply(stored, tx) {
      const version = stored.data as ContractVersion;
      await updateOnce<ContractView>(tx, collection, stored.organizationId, stored, (current) => ({
        id: stored.organizationId,
        organizationId: stored.organizationId,
        versions: withVersion(current?.versions, version),
      }));
    },
  };
}

/** Reads a service's copy: an organization's contract versions, or the one in effect at an instant. */
export class ContractReader {
  private readonly readStore: ReadStore;
  private readonly collection: string;

  constructor(readStore: ReadStore, collection: string) {
    this.readStore = readStore;
    this.collection = collection;
  }

  async versions(organizationId: string): Promise<ContractVersion[]> {
    return (await this.readStore.get<ContractView>(this.collection, organizationId))?.versions ?? [];
  }

  async at(organizationId: string, instant: string): Promise<ContractVersion | undefined> {
    return contractAt(await this.versions(organizationId), instant);
  }
}
