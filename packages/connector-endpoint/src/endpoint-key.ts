import { formatKey, InvalidKeyError, isUuid } from '@proxy/core';

/**
 * Where an object lives: its id on the endpoint that owns it. `endpointId` is the uuid of the
 * owner (the home endpoint of the process that stored it), so any endpoint can tell whether a
 * request is for itself or has to be forwarded to a peer.
 */
export interface EndpointKey {
  readonly [field: string]: string;
  readonly objectId: string;
  readonly endpointId: string;
}

/**
 * Object ids are used as file names by the disk storage, so they are restricted to a safe
 * alphabet (uuids fit) and can never name a path outside the data directory.
 */
const OBJECT_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

export function isObjectId(value: unknown): value is string {
  return typeof value === 'string' && OBJECT_ID.test(value) && value !== '.' && value !== '..';
}

export function assertEndpointKey(key: unknown): asserts key is EndpointKey {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) {
    throw new InvalidKeyError(
      `EndpointConnector key must be an object { objectId, endpointId }; got ${formatKey(key)}`,
    );
  }
  const { objectId, endpointId } = key as Record<string, unknown>;
  if (!isObjectId(objectId)) {
    throw new InvalidKeyError(
      `EndpointConnector key needs an "objectId" of 1-128 characters [A-Za-z0-9_.-] (not starting with a dot); got ${formatKey(key)}`,
    );
  }
  if (!isUuid(endpointId)) {
    throw new InvalidKeyError(
      `EndpointConnector key needs an "endpointId" that is an endpoint uuid; got ${formatKey(key)}`,
    );
  }
}
