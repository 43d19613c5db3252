import type { FromChild, ToChild } from './process-pool-executor.js';
import { runTask } from './run-task.js';

// The main module of each ProcessPoolExecutor child: runs one task per message.
function send(message: FromChild): void {
  process.send!(message);
}

process.on('message', (message: ToChild) => {
  if (message.type === 'run') {
    runTask(message.call).then((outcome) => send({ type: 'result', id: message.id, outcome }));
  } else if (message.type === 'stop') {
    // Exiting explicitly: connections a task opened (store clients) must not keep us alive.
    process.disconnect();
    process.exit(0);
  }
});
// The parent went away without saying stop (it crashed): do not linger as an orphan.
process.on('disconnect', () => process.exit(0));
