// ioredis's reply parser (redis-parser) keeps a module-level setInterval that shrinks its
// buffer pool after large replies and clears itself once the pool is small again (~2-4 s
// after a 50 MB read). It is not a leak, but it outlives jest's default 1 s open-handle grace.
module.exports = require('../../jest.config.base.cjs')(__dirname, { openHandlesTimeout: 8000 });
