/**
 * Test and demo support shared by every layer: seeded randomness (replayable with `SEED=`),
 * the seeded demo network, and the reference model with the parts of the seeded simulator
 * (operations, workload, checks) that `npm run simulate` drives. Nothing here is used on the
 * engine's serving paths.
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
export { median } from './stats.js';
export {
  type ComparableState,
  compareWithModel,
  sameState,
  stateOfEngine,
  stateOfModel,
} from './model-compare.js';
export { Model, type ModelConfig, ModelViolation } from './model.js';
export {
  type Answer,
  canonical,
  comparable,
  differences,
  type Operation,
  type OperationKind,
  type OperationsApi,
  runOperation,
  SIMULATION_ACTOR,
} from './operations.js';
export {
  type Appended,
  applyChecked,
  checkInLogOrder,
  checkInProgramOrder,
  type Executed,
  logOrder,
  Mismatch,
  orderIdsOf,
} from './sim-check.js';
export {
  CatalogueIds,
  catalogueChange,
  OperationStream,
  SIM_CLOCK_START,
  SIM_CONFIG,
  SIM_CONTESTED_IDS,
  SIM_ORDERS_PER_EPOCH_MAX,
  simNetwork,
} from './sim-workload.js';
