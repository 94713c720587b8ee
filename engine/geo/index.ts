/**
 * The delivery-area index: which DCs deliver to a location within a window, nearest first.
 * Each worker thread builds its own `DeliveryAreaIndex` from the catalogue's DC records.
 */

export { DC_HITS_CAPACITY_MAX, DC_HITS_MAX, DcHits } from './dc-hits.js';
export {
  checkDcRecord,
  DeliveryAreaIndex,
  type DeliveryAreaIndexOptions,
  etaMinutes,
  GEO_CACHE_SIZE_MAX,
  GEO_DC_CAPACITY_MAX,
  type GeoUpsertRefusal,
} from './delivery-area-index.js';
export { EARTH_RADIUS_KM, haversineKm } from './haversine.js';
export {
  type GeoBox,
  METRO_BOX,
  type SyntheticNetworkOptions,
  seededRandom,
  syntheticDcs,
} from './synthetic-network.js';
export { RING_POSITIONS_MIN, validateArea } from './validate-area.js';
