// Preloaded into every pod process (`node --import`): the pod dies with the cluster that spawned it,
// even when that process is killed without a chance to clean up, so no pod outlives its test.

process.channel?.unref();
process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
