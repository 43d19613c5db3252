export { type ConformanceOptions, runConnectorConformance } from './conformance.js';
export { freePort, waitForPort } from './net.js';
export { describeWithService, requireService } from './service.js';
