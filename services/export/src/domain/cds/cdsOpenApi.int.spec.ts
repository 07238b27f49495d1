import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CDS_EXAMPLES, cdsModelValidator, cdsResponseValidator, describeErrors } from './cdsOpenApi.fixture.ts';

const example = (name: string) => JSON.parse(readFileSync(`${CDS_EXAMPLES}/${name}`, 'utf8'));

/** Where the official CDS files and the spec text disagree: each case, checked, so a fixed spec file shows up here. */
describe('the official CDS 1.1 OpenAPI against the spec\'s own examples', () => {
  it('describes a Polygon\'s coordinates as a flat list of positions: the spec\'s zone example fails it as published, and passes with RFC 7946 geometry', () => {
    const zone = example('curbs_01_curb_zones_minimum.json').data.zones[0];
    const official = cdsModelValidator('curb_zone.yaml', { official: true });
    expect(official(zone)).toBe(false);
    expect(describeErrors(official)).toMatch(/geometry\/coordinates\/0/);
    const substituted = cdsModelValidator('curb_zone.yaml');
    expect(substituted(zone), describeErrors(substituted)).toBe(true);
  });

  it('validates the spec\'s zones and policies examples (with that substitution)', () => {
    for (const [file, path] of [['curbs_01_curb_zones_minimum.json', '/curbs/zones'], ['curbs_02_curb_policies.json', '/curbs/policies'], ['curbs_03_curb_policy_rate_units.json', '/curbs/policies']] as const) {
      const validate = cdsResponseValidator('Curbs API', path);
      expect(validate(example(file)), `${file}: ${describeErrors(validate)}`).toBe(true);
    }
  });

  it('rejects the spec\'s events examples: times as strings and event_location as a Feature (and a string vehicle_length)', () => {
    const validate = cdsResponseValidator('Events API', '/events/events');
    expect(validate(example('events_01_curb_event_minimum.json'))).toBe(false);
    expect(describeErrors(validate)).toMatch(/event_location must have required property 'coordinates'.*event_time must be integer.*event_publication_time must be integer/);
    expect(validate(example('events_02_fleet_operator.json'))).toBe(false);
    expect(describeErrors(validate)).toMatch(/vehicle_length must be integer/);
  });
});
