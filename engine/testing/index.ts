/**
 * Test and demo support shared by every layer: seeded randomness (replayable with `SEED=`)
 * and the seeded demo network. Nothing here is used on the engine's serving paths.
 */

export {
  type ProductLine,
  type ProductTemplate,
  SKU_CATEGORIES,
  type SkuCategory,
  vocabularyFor,
} from './grocery-vocabulary.js';
export {
  DEMO_DCS_DEFAULT,
  DEMO_DCS_MAX,
  DEMO_SKUS_DEFAULT,
  DEMO_SKUS_MAX,
  DEMO_STOCK_CELLS_MAX,
  DEMO_STOCK_QTY_MAX,
  type DemoNetwork,
  type DemoNetworkOptions,
  type DemoStockRow,
  generateDemoNetwork,
} from './demo-network.js';
export {
  type MarketRegion,
  METROS,
  type Metro,
  type MetroName,
  type Neighbourhood,
  slugify,
} from './metros.js';
export { describeSeed, Prng, seedFromEnv, ZIPF_N_MAX, Zipf } from './prng.js';
