// The AWS SDK warns once per process that its 2027 releases will need Node 22; silence it in
// tests (workers and child processes inherit this).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
module.exports = require('../../jest.config.base.cjs')(__dirname);
