/**
 * Real metro areas for demo networks: a centre and hand-picked neighbourhood centroids
 * (approximate, to a few hundred metres), so generated DCs sit where dark stores actually are
 * and a map of the demo looks like a city rather than noise.
 *
 * Invariants: the tables are frozen; every neighbourhood is within 25 km of its metro's centre;
 * neighbourhood names are unique within a metro, so their slugs make unique DC id prefixes.
 */

import type { Location } from '../types.js';

export type MetroName = 'bengaluru' | 'new-york';

/** Which brand vocabulary a metro's shops stock. */
export type MarketRegion = 'india' | 'united-states';

export interface Neighbourhood {
  name: string;
  lat: number;
  lng: number;
}

export interface Metro {
  name: MetroName;
  displayName: string;
  /** Prefix of every DC id in this metro, e.g. 'blr' in 'blr-koramangala-1'. */
  idPrefix: string;
  market: MarketRegion;
  centre: Location;
  neighbourhoods: readonly Neighbourhood[];
}

const BENGALURU_NEIGHBOURHOODS: readonly Neighbourhood[] = [
  { name: 'Koramangala', lat: 12.9352, lng: 77.6245 },
  { name: 'Indiranagar', lat: 12.9784, lng: 77.6408 },
  { name: 'Whitefield', lat: 12.9698, lng: 77.75 },
  { name: 'Jayanagar', lat: 12.9308, lng: 77.5838 },
  { name: 'HSR Layout', lat: 12.9116, lng: 77.6474 },
  { name: 'BTM Layout', lat: 12.9166, lng: 77.6101 },
  { name: 'Malleshwaram', lat: 13.0035, lng: 77.571 },
  { name: 'Rajajinagar', lat: 12.9905, lng: 77.5525 },
  { name: 'Basavanagudi', lat: 12.9422, lng: 77.5738 },
  { name: 'JP Nagar', lat: 12.9063, lng: 77.5857 },
  { name: 'Banashankari', lat: 12.9255, lng: 77.5468 },
  { name: 'Electronic City', lat: 12.8452, lng: 77.6602 },
  { name: 'Marathahalli', lat: 12.9569, lng: 77.7011 },
  { name: 'Bellandur', lat: 12.9304, lng: 77.6784 },
  { name: 'Sarjapur Road', lat: 12.9105, lng: 77.6868 },
  { name: 'Hebbal', lat: 13.0358, lng: 77.597 },
  { name: 'Yelahanka', lat: 13.1007, lng: 77.5963 },
  { name: 'RT Nagar', lat: 13.0217, lng: 77.5948 },
  { name: 'Frazer Town', lat: 12.998, lng: 77.614 },
  { name: 'Ulsoor', lat: 12.9817, lng: 77.6286 },
  { name: 'MG Road', lat: 12.9756, lng: 77.6066 },
  { name: 'Vijayanagar', lat: 12.9712, lng: 77.5339 },
  { name: 'Yeshwanthpur', lat: 13.028, lng: 77.54 },
  { name: 'KR Puram', lat: 13.0055, lng: 77.6955 },
  { name: 'Banaswadi', lat: 13.0141, lng: 77.6518 },
  { name: 'Kalyan Nagar', lat: 13.028, lng: 77.64 },
  { name: 'Bannerghatta Road', lat: 12.888, lng: 77.597 },
  { name: 'Domlur', lat: 12.9609, lng: 77.6387 },
  { name: 'Sadashivanagar', lat: 13.0068, lng: 77.5813 },
  { name: 'Basaveshwaranagar', lat: 12.993, lng: 77.54 },
  { name: 'Hennur', lat: 13.045, lng: 77.64 },
  { name: 'Mahadevapura', lat: 12.992, lng: 77.7 },
  { name: 'Kengeri', lat: 12.914, lng: 77.483 },
  { name: 'Nagarbhavi', lat: 12.96, lng: 77.51 },
];

const NEW_YORK_NEIGHBOURHOODS: readonly Neighbourhood[] = [
  // Manhattan
  { name: 'Upper West Side', lat: 40.787, lng: -73.9754 },
  { name: 'Upper East Side', lat: 40.7736, lng: -73.9566 },
  { name: 'Harlem', lat: 40.8116, lng: -73.9465 },
  { name: 'Washington Heights', lat: 40.8417, lng: -73.9394 },
  { name: 'Midtown', lat: 40.7549, lng: -73.984 },
  { name: "Hell's Kitchen", lat: 40.7638, lng: -73.9918 },
  { name: 'Murray Hill', lat: 40.7479, lng: -73.9757 },
  { name: 'Chelsea', lat: 40.7465, lng: -74.0014 },
  { name: 'Greenwich Village', lat: 40.7336, lng: -74.0027 },
  { name: 'East Village', lat: 40.7265, lng: -73.9815 },
  { name: 'Lower East Side', lat: 40.715, lng: -73.9843 },
  { name: 'SoHo', lat: 40.7233, lng: -74.003 },
  { name: 'Tribeca', lat: 40.7163, lng: -74.0086 },
  { name: 'Financial District', lat: 40.7075, lng: -74.0113 },
  // Brooklyn
  { name: 'Williamsburg', lat: 40.7081, lng: -73.9571 },
  { name: 'Greenpoint', lat: 40.7305, lng: -73.9515 },
  { name: 'Bushwick', lat: 40.6944, lng: -73.9213 },
  { name: 'Park Slope', lat: 40.671, lng: -73.9814 },
  { name: 'Brooklyn Heights', lat: 40.696, lng: -73.9936 },
  { name: 'DUMBO', lat: 40.7033, lng: -73.9881 },
  { name: 'Bedford-Stuyvesant', lat: 40.6872, lng: -73.9418 },
  { name: 'Crown Heights', lat: 40.6694, lng: -73.9422 },
  { name: 'Flatbush', lat: 40.641, lng: -73.959 },
  { name: 'Sunset Park', lat: 40.6455, lng: -74.0124 },
  { name: 'Bay Ridge', lat: 40.6264, lng: -74.0299 },
  // Queens
  { name: 'Astoria', lat: 40.7644, lng: -73.9235 },
  { name: 'Long Island City', lat: 40.7447, lng: -73.9485 },
  { name: 'Sunnyside', lat: 40.7433, lng: -73.9196 },
  { name: 'Jackson Heights', lat: 40.7557, lng: -73.8831 },
  { name: 'Elmhurst', lat: 40.7365, lng: -73.8779 },
  { name: 'Forest Hills', lat: 40.7181, lng: -73.8448 },
  { name: 'Flushing', lat: 40.7675, lng: -73.8331 },
  { name: 'Ridgewood', lat: 40.7044, lng: -73.9018 },
];

export const METROS: Readonly<Record<MetroName, Metro>> = Object.freeze({
  bengaluru: Object.freeze({
    name: 'bengaluru',
    displayName: 'Bengaluru',
    idPrefix: 'blr',
    market: 'india',
    centre: Object.freeze({ lat: 12.9716, lng: 77.5946 }),
    neighbourhoods: Object.freeze(BENGALURU_NEIGHBOURHOODS.map((hood) => Object.freeze(hood))),
  }),
  'new-york': Object.freeze({
    name: 'new-york',
    displayName: 'New York',
    idPrefix: 'nyc',
    market: 'united-states',
    // City Hall, the usual "centre" of New York City.
    centre: Object.freeze({ lat: 40.7128, lng: -74.006 }),
    neighbourhoods: Object.freeze(NEW_YORK_NEIGHBOURHOODS.map((hood) => Object.freeze(hood))),
  }),
});

/** 'HSR Layout' → 'hsr-layout', "Hell's Kitchen" → 'hells-kitchen'. */
export function slugify(name: string): string {
  return name
    .toLowerCase()
    .replace(/['’]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
