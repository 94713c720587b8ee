/**
 * The part of the cluster layer a node loads whether or not it joins a cluster: the ownership
 * gate its worker threads check before every write (cluster/ownership.ts) and the lease limits
 * its flags are checked against (cluster/constants.ts). Neither loads the NATS client; the rest
 * of the layer (cluster/index.ts) does, so a node imports that only when it joins a cluster
 * (edge/cluster-port.ts, loaded with a dynamic import), and a node alone never loads NATS.
 */

export { LEASE_MS_DEFAULT, LEASE_MS_MAX, LEASE_MS_MIN } from '../constants.js';
export { OwnershipGate, type RoleName } from '../ownership.js';
