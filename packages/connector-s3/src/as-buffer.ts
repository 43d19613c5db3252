/** The SDK takes Buffers; a Uint8Array view is wrapped without copying its bytes. */
export function asBuffer(data: Uint8Array): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (!(data instanceof Uint8Array))
    throw new TypeError(`S3Connector stores Uint8Array values; got ${typeof data}`);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
