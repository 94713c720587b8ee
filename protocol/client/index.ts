/**
 * The SDK entry point (the package's main export): InventoryClient, its options and errors,
 * and the wire types and codes a caller needs to use it.
 */

export {
  ErrorCodes,
  type ErrorBody,
  type ErrorCode,
  type LineRefusal,
  LineCodes,
} from '../codes.js';
export * from '../limits.js';
export type * from '../messages.js';
export {
  BatchResults,
  MessageKinds,
  Ops,
  OP_RESEND_SAFE,
  OP_MUTATES,
  Roles,
  SUBSCRIPTION_ROLES,
  SubscriptionKinds,
  WIRE_STATUSES,
} from '../messages.js';
export {
  type AvailabilityColumnsRead,
  AvailabilityBatchResult,
  type AvailabilityQuery,
} from './availability-batch.js';
export { backoffDelayMs, type Random, type ReconnectPolicy } from './backoff.js';
export { type ClientOp, InventoryClient } from './client.js';
export {
  type ClusterCallOptions,
  ClusterClient,
  type ClusterConnectOptions,
  ORDER_REGIONS_MAX,
} from './cluster.js';
export {
  distanceKm,
  isRegionId,
  LOG_HEADERS,
  logStreamName,
  logSubject,
  OWNERS_BUCKET,
  REGIONS_BUCKET,
  type RegionDc,
  type RegionDefinition,
  type RegionOwner,
  regionForLocation,
} from '../cluster.js';
export {
  ConnectionLostError,
  InventoryError,
  type InventoryErrorOptions,
} from './errors.js';
export {
  OrderBatchResult,
  type OrderColumns,
  type OrderOutcome,
  type PlaceOrderInput,
} from './order-batch.js';
export { type PushHandler, PushRouter } from './push-router.js';
export type {
  AvailabilityManyOptions,
  CallOptions,
  ClientState,
  ConnectOptions,
  SessionListener,
} from './session.js';
export {
  type AvailabilityUpdate,
  type LowStockUpdate,
  type OrderEventsUpdate,
  type OrderSubscriptionOptions,
  Subscription,
  type SubscriptionOptions,
  type UpdateCodec,
} from './subscriptions.js';
